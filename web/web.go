// Package web holds Parley's browser client: plain HTML, JavaScript modules
// and CSS, served as they are, with no build step and nothing from a CDN.
package web

import "embed"

// FS holds the client files: index.html at the root and every other file
// under assets/ (for example assets/app.js and assets/style.css).
//
// The server serves index.html for GET /, GET /r/:room and GET /join/:code
// (a guest invite link), and the file assets/NAME for GET /assets/NAME.
// index.html refers to its assets by those absolute paths and has no inline
// script or style, so it works under a Content-Security-Policy of
// default-src 'self'. FS is read-only and safe for concurrent use.
//
//go:embed index.html assets
var FS embed.FS
