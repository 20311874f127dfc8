package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// certReloader serves the API's certificate from --tls-cert and --tls-key
// and loads the pair again when either file changes (its modification time
// or size), so that a renewed certificate (cert-manager, certbot) is served
// without a restart. It looks at the files during a handshake, at most once
// per interval. A new pair that does not load (a half-written file, a key
// that does not match) is logged and the old pair kept; the next change is
// tried again.
type certReloader struct {
	certFile, keyFile string
	log               *slog.Logger
	interval          time.Duration
	now               func() time.Time

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]fileStamp
	checked time.Time
}

// fileStamp is what tells that a file changed.
type fileStamp struct {
	mod  time.Time
	size int64
}

// newCertReloader loads the pair, or fails: a role does not start with an
// unusable certificate.
func newCertReloader(certFile, keyFile string, log *slog.Logger) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, log: log, interval: time.Second, now: time.Now}
	stamp, _ := r.stamps()
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	r.cert, r.stamp, r.checked = &cert, stamp, r.now()
	return r, nil
}

func (r *certReloader) stamps() ([2]fileStamp, error) {
	var s [2]fileStamp
	for i, name := range []string{r.certFile, r.keyFile} {
		fi, err := os.Stat(name)
		if err != nil {
			return s, err
		}
		s[i] = fileStamp{fi.ModTime(), fi.Size()}
	}
	return s, nil
}

// GetCertificate is the tls.Config hook: the current pair, reloaded first
// if the files changed since it was loaded.
func (r *certReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := r.now(); now.Sub(r.checked) >= r.interval {
		r.checked = now
		r.reload()
	}
	return r.cert, nil
}

// reload loads the pair if the files changed; r.mu is held.
func (r *certReloader) reload() {
	stamp, err := r.stamps()
	if err != nil {
		r.log.Error("tls certificate files unreadable; serving the previous certificate", "cert", r.certFile, "key", r.keyFile, "err", err)
		return
	}
	if stamp == r.stamp {
		return
	}
	r.stamp = stamp
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		r.log.Error("tls certificate changed but does not load; serving the previous certificate", "cert", r.certFile, "key", r.keyFile, "err", err)
		return
	}
	r.cert = &cert
	r.log.Info("tls certificate reloaded", "cert", r.certFile)
}

// serverTLSConfig is the API's HTTPS configuration: TLS 1.2 at least, the
// certificate from r.
func serverTLSConfig(r *certReloader) *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.GetCertificate}
}
