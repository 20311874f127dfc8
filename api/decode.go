package api

import (
	"errors"
	"io"
	"net/http"
	"os"

	"github.com/go-json-experiment/json/jsontext"

	"github.com/ordo-dev/ordo/internal/strictjson"
	"github.com/ordo-dev/ordo/ledger"
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

// journalFields are the members every command body may carry besides its
// own: a reference and metadata, stored with the command's entry.
// Request structs inline them.
type journalFields struct {
	Reference jsontext.Value `json:"reference"`
	Metadata  jsontext.Value `json:"metadata"`
}

// read reads and checks the journal members into cmd.
func (j journalFields) read(cmd *ledger.Command) error {
	var err error
	if len(j.Reference) > 0 {
		if cmd.Reference, err = strictjson.String("reference", j.Reference); err != nil {
			return err
		}
		if err := ledger.ValidateReference("reference", cmd.Reference); err != nil {
			return err
		}
	}
	if len(j.Metadata) > 0 {
		m, err := strictjson.StringMap("metadata", j.Metadata)
		if err != nil {
			return err
		}
		if cmd.Metadata, err = ledger.NewMetadata("metadata", m); err != nil {
			return err
		}
	}
	return nil
}

// readCounterparty reads the optional external counterparty of a deposit,
// withdrawal or capture into cmd.
func readCounterparty(cmd *ledger.Command, v jsontext.Value) error {
	if len(v) == 0 {
		return nil
	}
	var err error
	if cmd.Counterparty, err = strictjson.String("counterparty", v); err != nil {
		return err
	}
	return ledger.ValidateCounterparty("counterparty", cmd.Counterparty)
}
