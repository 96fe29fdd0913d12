// The page's address: the room a /r/:room address names, the invite code
// of a /join/:code link, and keeping the address bar on the open room.

import { normalizeRoom, roomHref } from './sidebar.js';

/** routeRoom is the room the address names, or '' if it names none. */
export function routeRoom() {
  const match = location.pathname.match(/^\/r\/([^/]+)\/?$/);
  if (!match) return '';
  try {
    return normalizeRoom(decodeURIComponent(match[1]));
  } catch {
    return '';
  }
}

/** routeJoin is the invite code of a /join/:code address, or ''. */
export function routeJoin() {
  const match = location.pathname.match(/^\/join\/([^/]+)\/?$/);
  try {
    return match ? decodeURIComponent(match[1]) : '';
  } catch {
    return '';
  }
}

/**
 * setRoute puts the address of room name in the address bar: as a new
 * history entry if push, else in place of the current one.
 */
export function setRoute(name, { push = false } = {}) {
  const href = roomHref(name);
  if (location.pathname !== href) history[push ? 'pushState' : 'replaceState'](null, '', href);
}
