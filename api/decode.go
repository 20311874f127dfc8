package api

import (
	"errors"
	"io"
	"net/http"
	"os"

	"github.com/ordo-dev/ordo/internal/strictjson"
)

// errBodyRead is a request body that could not be read in full: the client
// sent less than it announced, hung up, or was too slow for the read
// timeout. It is the client's doing, so it is answered 400 (the client may
// no longer be there to read it) and not logged as an error.
type errBodyRead struct{ err error }

func (e *errBodyRead) Error() string { return "read request body: " + e.err.Error() }
func (e *errBodyRead) Unwrap() error { return e.err }

// readBody reads a request body whole. A body over the limit stays an
// *http.MaxBytesError (413); any other failure is an *errBodyRead.
func readBody(r io.Reader) ([]byte, error) {
	body, err := io.ReadAll(r)
	if err != nil {
		if maxErr := (*http.MaxBytesError)(nil); errors.As(err, &maxErr) {
			return nil, err
		}
		return nil, &errBodyRead{err: err}
	}
	return body, nil
}

// decodeBody reads a request body and parses it as one JSON object into
// dst, a struct of jsontext.Value fields, under the rules of package
// strictjson: exact names, no unknown or repeated names, no trailing data.
func decodeBody(r io.Reader, dst any) error {
	body, err := readBody(r)
	if err != nil {
		return err
	}
	return strictjson.Unmarshal("body", body, dst)
}

// bodyReadDetail says what went wrong reading a body, in the client's terms.
func bodyReadDetail(err error) string {
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "the request body did not arrive within the server's read timeout"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the request body ended before the length it announced"
	default:
		return "the request body could not be read in full"
	}
}
