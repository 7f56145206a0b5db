package bench

import (
	"crypto/tls"
	"io"
	"net/http"
	"time"
)

// FloorResponse is the fixed answer of the floor server: an allowed
// AdmissionReview with no patch. It does not echo the request UID (that
// would need decoding), so loads against the floor run with CheckUID off.
const FloorResponse = `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"` + PlaceholderUID + `","allowed":true}}`

// FloorHandler is the least an admission webhook can do: read the request
// body to the end (so keep-alive works), decode nothing, and write a fixed
// AdmissionReview.
func FloorHandler() http.Handler {
	resp := []byte(FloorResponse)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 3<<20))
		w.Header().Set("Content-Type", "application/json")
		w.Write(resp)
	})
}

// FloorServer returns the floor's HTTP server: HTTP/1.1 only over TLS, with
// the same kind of explicit limits a real webhook sets.
func FloorServer(addr string, cert tls.Certificate) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           FloorHandler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      15 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    64 << 10,
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}},
		TLSNextProto:      map[string]func(*http.Server, *tls.Conn, http.Handler){},
	}
}
