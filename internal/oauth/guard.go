package oauth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// clientEndpoints are the endpoints where a client authenticates.
var clientEndpoints = map[string]bool{"/oauth/token": true, "/oauth/introspect": true, "/oauth/revoke": true}

type guardError struct {
	status            int
	code, description string
}

// guard refuses, before the protocol engine sees them, requests to the
// client-authenticating endpoints that RFC 6749 forbids or that the engine
// would answer less precisely: wrong method or content type, an oversized
// body, a repeated parameter, a secret in the URL, two authentication
// methods at once, or a malformed Authorization header. It parses the form
// once; the engine reuses it.
func guard(w http.ResponseWriter, r *http.Request, path string) *guardError {
	if !clientEndpoints[path] {
		return nil
	}
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	if r.Method != http.MethodPost {
		h.Set("Allow", http.MethodPost)
		return &guardError{http.StatusMethodNotAllowed, "invalid_request", "use POST"}
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		return &guardError{http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded"}
	}
	if err := r.ParseForm(); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return &guardError{http.StatusRequestEntityTooLarge, "invalid_request", "the body is too large"}
		}
		return &guardError{http.StatusBadRequest, "invalid_request", "the body is not a valid form"}
	}
	if r.URL.Query().Has("client_secret") {
		return &guardError{http.StatusBadRequest, "invalid_request", "client_secret must not be sent in the URL"}
	}
	for name, vs := range r.Form {
		if len(vs) > 1 {
			return &guardError{http.StatusBadRequest, "invalid_request", "parameter " + name + " is repeated"}
		}
	}
	auth := r.Header.Get("Authorization")
	if auth == "" {
		if path == "/oauth/introspect" && !r.PostForm.Has("client_secret") {
			// Only authenticated clients may introspect (RFC 7662 §2.1).
			return &guardError{http.StatusUnauthorized, "invalid_client", "client authentication required"}
		}
		return nil
	}
	scheme, cred, _ := strings.Cut(auth, " ")
	if !strings.EqualFold(scheme, "Basic") {
		return &guardError{http.StatusUnauthorized, "invalid_client", "use HTTP Basic or client_secret_post"}
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	id, secret, ok := strings.Cut(string(raw), ":")
	if err != nil || !ok {
		return &guardError{http.StatusUnauthorized, "invalid_client", "malformed Basic credentials"}
	}
	_, errID := url.QueryUnescape(id)
	_, errSecret := url.QueryUnescape(secret)
	if errID != nil || errSecret != nil {
		// Sent without the form-encoding RFC 6749 §2.3.1 asks for, and not
		// decodable as if it had been: encode it, so that the engine's
		// decoding gives back what was sent.
		r.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret))))
	}
	if r.PostForm.Has("client_secret") {
		return &guardError{http.StatusBadRequest, "invalid_request", "use one client authentication method, not two"}
	}
	return nil
}

// headerWriter records the status and adds WWW-Authenticate to every 401, as RFC 6749 §5.2 asks
// for clients that authenticated with HTTP Basic.
type headerWriter struct {
	http.ResponseWriter
	issuer string
	status int // for metrics
}

func (w *headerWriter) WriteHeader(status int) {
	w.status = status
	if status == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
		w.Header().Set("WWW-Authenticate", `Basic realm="`+w.issuer+`"`)
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *headerWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// writeOAuthError writes an RFC 6749 §5.2 error response.
func writeOAuthError(w http.ResponseWriter, status int, code, description string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	body := map[string]string{"error": code}
	if description != "" {
		body["error_description"] = description
	}
	_ = json.NewEncoder(w).Encode(body)
}
