// The file outbox: messages with files that are not posted yet, kept in
// IndexedDB (which stores File and Blob objects as they are, unlike
// sessionStorage) so that a reload shows them pending again and sends them
// (upload.js). As the text outbox, they belong to one tab: each record names
// the tab that wrote it (an id kept in sessionStorage, so it survives the
// tab's reloads) and the signed-in identity. Records of tabs that are gone
// are dropped by the next page that loads. What is kept is bounded by
// maxKeptBytes; a message whose files do not fit is still sent while the
// page stays open, and says that a reload would lose it.
//
// A record is {clientId, tab, scope, seq, room, author, text, replyTo, time,
// bytes, state, error, retryable, files: [{key, name, type, size, id}]};
// each file's bytes are in the blobs store under [clientId, key].

const dbName = 'parley-outbox';
const dbVersion = 1;
const stores = ['messages', 'blobs'];
const tabKey = 'parley.tab';
const tabLockPrefix = 'parley.tab.';
// Without Web Locks (plain HTTP off localhost) the page cannot tell a
// closed tab from an open one: another tab's records go after this long.
const orphanAge = 24 * 3600 * 1000;

/** maxKeptBytes bounds the files of all the unsent messages kept in this browser. */
export const maxKeptBytes = 200 * 1024 * 1024;

/** NotKept says why a message's files could not be kept for a reload. */
export class NotKept extends Error {
  constructor(message) {
    super(message);
    this.name = 'NotKept';
  }
}

let opening = null;

// open opens the database once; a failure is tried again next time.
function open() {
  if (!opening) {
    opening = new Promise((resolve, reject) => {
      if (!globalThis.indexedDB) throw new NotKept('this browser offers no IndexedDB');
      const req = indexedDB.open(dbName, dbVersion);
      req.onupgradeneeded = () => {
        for (const name of stores) {
          if (!req.result.objectStoreNames.contains(name)) req.result.createObjectStore(name, name === 'messages' ? { keyPath: 'clientId' } : {});
        }
      };
      req.onsuccess = () => {
        const db = req.result;
        // A newer page wants to upgrade: let it.
        db.onversionchange = () => {
          db.close();
          opening = null;
        };
        resolve(db);
      };
      req.onerror = () => reject(new NotKept(req.error?.message || 'IndexedDB could not be opened'));
    });
    opening.catch(() => {
      opening = null;
    });
  }
  return opening;
}

// transact runs fn(messages, blobs, tx) in one transaction and resolves with
// what fn returned (a request's result once the transaction is done).
async function transact(mode, fn) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(stores, mode);
    let out;
    try {
      out = fn(tx.objectStore('messages'), tx.objectStore('blobs'), tx);
    } catch (err) {
      tx.abort();
      reject(err);
      return;
    }
    tx.oncomplete = () => resolve(out instanceof IDBRequest ? out.result : out);
    tx.onabort = () => reject(tx.refusal || new NotKept(tx.error?.message || 'the browser refused to keep it'));
  });
}

function blobRange(clientId) {
  return IDBKeyRange.bound([clientId], [clientId, []]);
}

let tab = null;

/**
 * tabId names this tab's records; a tab duplicated with its sessionStorage
 * takes a new name when Web Locks show the old one is held.
 */
export function tabId() {
  tab ||= findTabId();
  return tab;
}

async function findTabId() {
  let id = '';
  try {
    id = sessionStorage.getItem(tabKey) || '';
  } catch {
    // Storage is disabled: a new id each load, nothing comes back.
  }
  if (!id || (navigator.locks && !(await holdTab(id)))) {
    id = newId();
    if (navigator.locks) await holdTab(id);
  }
  try {
    sessionStorage.setItem(tabKey, id);
  } catch {
    // As above.
  }
  return id;
}

// holdTab takes the tab's lock for the page's life; false if another
// page holds it.
function holdTab(id) {
  return new Promise((resolve) => {
    navigator.locks.request(tabLockPrefix + id, { ifAvailable: true }, (lock) => {
      resolve(Boolean(lock));
      return lock ? new Promise(() => {}) : null;
    }).catch(() => resolve(false));
  });
}

function newId() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * keep stores a new message and its files (blobs[i] is files[i]'s bytes),
 * or rejects with NotKept: over maxKeptBytes with what is kept already (the
 * oldest messages keep their place), or refused by the browser.
 */
export function keep(record, blobs) {
  return transact('readwrite', (messages, blobStore, tx) => {
    messages.getAll().onsuccess = (e) => {
      const used = e.target.result.reduce((n, r) => n + (r.bytes || 0), 0);
      if (used + record.bytes > maxKeptBytes) {
        tx.refusal = new NotKept(`this browser keeps at most ${maxKeptBytes / 1048576} MiB of unsent files`
          + (used ? ` and ${Math.ceil(used / 1048576)} MiB are waiting already` : ''));
        tx.abort();
        return;
      }
      messages.put(record);
      record.files.forEach((f, i) => blobStore.put(blobs[i], [record.clientId, f.key]));
    };
  });
}

/** update changes fields of a kept message (not its files' bytes). */
export function update(clientId, fields) {
  return transact('readwrite', (messages) => {
    messages.get(clientId).onsuccess = (e) => {
      if (e.target.result) messages.put({ ...e.target.result, ...fields });
    };
  });
}

/** dropFile forgets one file of a kept message. */
export function dropFile(clientId, key) {
  return transact('readwrite', (messages, blobs) => {
    blobs.delete([clientId, key]);
    messages.get(clientId).onsuccess = (e) => {
      const r = e.target.result;
      if (!r) return;
      r.files = r.files.filter((f) => f.key !== key);
      r.bytes = r.files.reduce((n, f) => n + f.size, 0);
      messages.put(r);
    };
  });
}

/** forget drops a message and its files. */
export function forget(clientId) {
  return transact('readwrite', (messages, blobs) => {
    messages.delete(clientId);
    blobs.delete(blobRange(clientId));
  });
}

/**
 * load returns this tab's kept messages for scope, oldest first, each with
 * blobs (the files' bytes in files' order); it drops what no page will
 * send: records of tabs that are gone, of another identity in this tab,
 * and those for which keep(room) is false (a room no longer followed).
 */
export async function load(scope, keepRoom) {
  const me = await tabId();
  const alive = await liveTabs();
  const records = await transact('readonly', (messages) => messages.getAll());
  const mine = [];
  const drop = [];
  for (const r of records) {
    if (r.tab === me) {
      if (r.scope === scope && keepRoom(r.room)) mine.push(r);
      else drop.push(r.clientId);
    } else if (alive ? !alive.has(r.tab) : Date.parse(r.time) < Date.now() - orphanAge) {
      drop.push(r.clientId);
    }
  }
  mine.sort((a, b) => a.seq - b.seq);
  for (const r of mine) {
    // getAll returns them in key order, which is files' order: keys grow.
    r.blobs = await transact('readonly', (_, store) => store.getAll(blobRange(r.clientId)));
    if (r.blobs.length !== r.files.length) drop.push(r.clientId); // torn: cannot be sent as written
  }
  for (const id of drop) forget(id).catch(() => {});
  return mine.filter((r) => r.blobs.length === r.files.length);
}

// liveTabs is the set of tabs holding their lock, or null without Web Locks.
async function liveTabs() {
  if (!navigator.locks) return null;
  try {
    const { held = [] } = await navigator.locks.query();
    return new Set(held.filter((l) => l.name.startsWith(tabLockPrefix)).map((l) => l.name.slice(tabLockPrefix.length)));
  } catch {
    return null;
  }
}

/** forgetScope drops every kept message of scope, in every tab: a sign-out. */
export function forgetScope(scope) {
  return transact('readwrite', (messages, blobs) => {
    messages.getAll().onsuccess = (e) => {
      for (const r of e.target.result) {
        if (r.scope !== scope) continue;
        messages.delete(r.clientId);
        blobs.delete(blobRange(r.clientId));
      }
    };
  });
}
