// Files in messages: pictures as thumbnails that open full size in a
// viewer (←/→ between the pictures on the page, Escape closes, focus stays
// inside), video and audio as players (seeking uses HTTP Range), anything
// else as a card with name, size, type and a download link. Names are
// always text, never markup. The server decides what may be shown inline
// (docs/files.md, "Serving"); this list only chooses how to show it.

const pictures = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/avif']);
const thumbnailable = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp']);
const players = /^(video\/(mp4|webm|quicktime)|audio\/(mpeg|ogg|wav|flac|mp4))$/;

/** formatBytes writes a size for people: 532 B, 12.3 KiB, 4.0 MiB. */
export function formatBytes(n) {
  if (!Number.isFinite(n)) return '';
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(1)} GiB`;
}

/** fileURL is where file f of room downloads from. */
export function fileURL(room, f, thumb = false) {
  return `/api/rooms/${encodeURIComponent(room)}/files/${encodeURIComponent(f.id)}${thumb ? '/thumb' : ''}`;
}

/** filesElement shows a message's files. */
export function filesElement(message) {
  const list = document.createElement('ul');
  list.className = 'msg-files';
  for (const f of message.files) {
    const li = document.createElement('li');
    li.className = 'msg-file';
    li.dataset.fileId = f.id;
    const url = fileURL(message.room, f);
    if (pictures.has(f.type)) {
      const open = document.createElement('button');
      open.type = 'button';
      open.className = 'file-thumb';
      open.dataset.full = url;
      open.setAttribute('aria-label', `Open ${f.name}`);
      const img = document.createElement('img');
      img.alt = f.name;
      img.loading = 'lazy';
      img.src = thumbnailable.has(f.type) ? fileURL(message.room, f, true) : url;
      // The thumbnail is made just after the upload: try once more, then
      // show the picture itself.
      let tries = 0;
      img.addEventListener('error', () => {
        tries++;
        if (tries === 1) setTimeout(() => { img.src = `${fileURL(message.room, f, true)}?retry=1`; }, 1500);
        else if (tries === 2) img.src = url;
      });
      open.append(img);
      open.addEventListener('click', () => openViewer(open));
      li.append(open);
    } else if (players.test(f.type)) {
      const media = document.createElement(f.type.startsWith('video/') ? 'video' : 'audio');
      media.controls = true;
      media.preload = 'metadata';
      media.src = url;
      li.append(media, card(f, url));
    } else {
      li.append(card(f, url));
    }
    list.append(li);
  }
  return list;
}

// card is a file's name, size and type, with a download link.
function card(f, url) {
  const a = document.createElement('a');
  a.className = 'file-card';
  a.href = url;
  a.download = f.name;
  const name = document.createElement('span');
  name.className = 'file-name';
  name.dir = 'auto';
  name.textContent = f.name;
  const meta = document.createElement('span');
  meta.className = 'file-meta';
  meta.textContent = `${formatBytes(f.size)} · ${f.type || 'file'}`;
  a.append(name, ' ', meta);
  return a;
}

let dialog = null;

// openViewer shows the full picture of thumbnail button from, in a modal
// dialog; ←/→ go to the previous and next pictures on the page.
function openViewer(from) {
  if (!dialog) dialog = makeViewer();
  dialog.current = from;
  show(from);
  if (!dialog.open) dialog.showModal();
  dialog.querySelector('.viewer-close').focus();
}

function show(button) {
  const img = dialog.querySelector('img');
  img.src = button.dataset.full;
  img.alt = button.querySelector('img')?.alt || '';
  dialog.querySelector('.viewer-caption').textContent = img.alt;
  dialog.current = button;
}

function step(delta) {
  const all = [...document.querySelectorAll('.msg-files .file-thumb')];
  const i = all.indexOf(dialog.current);
  const next = all[i + delta];
  if (next) show(next);
}

function makeViewer() {
  const d = document.createElement('dialog');
  d.className = 'viewer';
  d.id = 'viewer';
  d.setAttribute('aria-label', 'Picture');
  const img = document.createElement('img');
  const caption = document.createElement('p');
  caption.className = 'viewer-caption';
  caption.dir = 'auto';
  const nav = document.createElement('div');
  nav.className = 'viewer-nav';
  const prev = navButton('←', 'Previous picture', () => step(-1));
  const next = navButton('→', 'Next picture', () => step(1));
  const close = navButton('×', 'Close', () => d.close());
  close.classList.add('viewer-close');
  nav.append(prev, next, close);
  d.append(img, caption, nav);
  d.addEventListener('keydown', (e) => {
    if (e.key === 'ArrowLeft') step(-1);
    else if (e.key === 'ArrowRight') step(1);
    else return;
    e.preventDefault();
  });
  d.addEventListener('close', () => dialog.current?.focus());
  document.body.append(d);
  return d;
}

function navButton(label, name, onClick) {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = 'icon-button';
  b.textContent = label;
  b.setAttribute('aria-label', name);
  b.addEventListener('click', onClick);
  return b;
}
