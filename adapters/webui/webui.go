// Package webui serves the "Manage Entity Connections" web page (contract §6, the shared
// objects of §7, the sharing settings and as-of reads of §8): one HTML page, its script and
// its style sheet, embedded in the binary. The page talks only to the REST API of the same
// origin (contract §4); it has no build step and loads nothing from elsewhere.
//
// The accessible names of the page's controls (the labels "Client ID", "Client secret" and
// "Entity", the tabs "Share To (Outbound)" and "Share From (Inbound)", the buttons "Sign in",
// "Sign out", "Request Connection", "Cancel", "Accept", "Deny", "Disconnect" and "History";
// for shared objects the button "Share Object", its dialog (role="dialog") with the
// textboxes "Object type" and "Object ID" and the button "Share", and "Unshare" beside each
// object shown as "Type ID"; for sharing settings the button "Sharing Settings", its dialog
// (role="dialog") with the choices "Accept requests from every entity", "Accept requests
// from these entities" (a checkbox per entity, labelled with its name, and "Other entity
// ID") and "Accept no requests automatically", and the button "Save"; for as-of reads the
// date-time field "View as of…" with the buttons "View" and "Now") are part of the contract:
// tests and tools outside this repository find controls by them.
package webui

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"time"
)

//go:embed static
var static embed.FS

// ContentSecurityPolicy is the policy sent with every file: the page may load scripts,
// styles, images and connections from its own origin only, and may not be framed.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// asset is one embedded file, ready to serve.
type asset struct {
	data        []byte
	contentType string
	etag        string
}

// assets maps request paths to the embedded files.
var assets = map[string]string{
	"/":           "index.html",
	"/index.html": "index.html",
	"/app.js":     "app.js",
	"/style.css":  "style.css",
}

var contentTypes = map[string]string{
	"index.html": "text/html; charset=utf-8",
	"app.js":     "text/javascript; charset=utf-8",
	"style.css":  "text/css; charset=utf-8",
}

// Handler returns the handler of the page: GET (and HEAD) of "/" serves index.html, of
// "/app.js" and "/style.css" the assets; any other path is 404 and any other method 405.
// Every response carries the Content-Security-Policy above, X-Content-Type-Options: nosniff
// and Referrer-Policy: no-referrer. Files are served with Cache-Control: no-cache and an
// ETag, so a browser revalidates them (they are not fingerprinted) and gets 304 when they
// have not changed. Safe for concurrent use.
func Handler() http.Handler {
	files := map[string]asset{}
	for _, name := range assets {
		data, err := fs.ReadFile(static, "static/"+name)
		if err != nil {
			panic("webui: embedded file missing: " + name) // a build without the files is a programming error
		}
		sum := sha256.Sum256(data)
		files[name] = asset{data: data, contentType: contentTypes[name], etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Frame-Options", "DENY")
		name, ok := assets[r.URL.Path]
		if !ok {
			http.Error(w, "404 page not found", http.StatusNotFound)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			http.Error(w, "405 method not allowed", http.StatusMethodNotAllowed)
			return
		}
		f := files[name]
		h.Set("Content-Type", f.contentType)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", f.etag)
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(f.data))
	})
}
