package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testCert is a self-signed certificate for localhost and 127.0.0.1,
// written as PEM files; it is its own CA.
type testCert struct {
	certFile, keyFile string
	certPEM, keyPEM   []byte
	serial            *big.Int
	pool              *x509.CertPool
}

func newTestCert(t *testing.T, dir, name string) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c := testCert{
		certFile: filepath.Join(dir, name+".crt"),
		keyFile:  filepath.Join(dir, name+".key"),
		certPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:   pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		serial:   serial,
		pool:     x509.NewCertPool(),
	}
	c.pool.AppendCertsFromPEM(c.certPEM)
	c.write(t, c.certFile, c.keyFile)
	return c
}

// write writes the pair to the given files.
func (c testCert) write(t *testing.T, certFile, keyFile string) {
	t.Helper()
	if err := os.WriteFile(certFile, c.certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, c.keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (c testCert) tlsCert(t *testing.T) tls.Certificate {
	t.Helper()
	cert, err := tls.X509KeyPair(c.certPEM, c.keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// servedSerial is the serial number of the certificate the server at addr
// presents, trusting any of pools.
func servedSerial(t *testing.T, addr string, pools ...*x509.CertPool) *big.Int {
	t.Helper()
	conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) // verified below against pools
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	leaf := conn.ConnectionState().PeerCertificates[0]
	for _, p := range pools {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: p}); err == nil {
			return leaf.SerialNumber
		}
	}
	t.Fatalf("served certificate %v is not one of the test's", leaf.SerialNumber)
	return nil
}

// TestHTTPSReloadsCertificate: the API's HTTPS server serves --tls-cert to
// a client trusting its CA; when the files are replaced it serves the new
// pair; a broken new pair is logged and the current one kept.
func TestHTTPSReloadsCertificate(t *testing.T) {
	dir := t.TempDir()
	first := newTestCert(t, dir, "first")
	var logs syncBuffer
	r, err := newCertReloader(first.certFile, first.keyFile, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler:   http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }),
		TLSConfig: serverTLSConfig(r),
	}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	addr := ln.Addr().String()

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: first.pool}}}
	res, err := client.Get("https://" + addr + "/")
	if err != nil {
		t.Fatalf("HTTPS with the CA: %v", err)
	}
	res.Body.Close()
	if _, err := (&http.Client{Timeout: 5 * time.Second}).Get("https://" + addr + "/"); err == nil {
		t.Fatal("HTTPS without the CA: got no error, want an unknown authority")
	}

	// A broken pair: the key of another certificate.
	second := newTestCert(t, t.TempDir(), "second")
	if err := os.WriteFile(first.keyFile, second.keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, func() bool {
		servedSerial(t, addr, first.pool)
		return strings.Contains(logs.String(), "does not load")
	})
	if got := servedSerial(t, addr, first.pool, second.pool); got.Cmp(first.serial) != 0 {
		t.Fatalf("after a broken pair: served %v, want the previous %v", got, first.serial)
	}

	// The renewed pair, written over the same files.
	second.write(t, first.certFile, first.keyFile)
	waitFor(t, 5*time.Second, func() bool {
		return servedSerial(t, addr, first.pool, second.pool).Cmp(second.serial) == 0
	})
	client.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: second.pool}}
	res, err = client.Get("https://" + addr + "/")
	if err != nil {
		t.Fatalf("HTTPS with the new CA: %v", err)
	}
	res.Body.Close()
}

func TestCertReloaderRefusesABadPairAtStart(t *testing.T) {
	dir := t.TempDir()
	a, b := newTestCert(t, dir, "a"), newTestCert(t, dir, "b")
	if _, err := newCertReloader(a.certFile, b.keyFile, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("mismatched pair: got no error")
	}
}
