package api

import (
	_ "embed"
	"net/http"

	"github.com/labstack/echo/v4"
)

// openAPIDocument is the OpenAPI 3.1 description of the HTTP API, served at
// GET /openapi.json. api/openapi_test.go checks it names every route, and
// cmd/ordo's TestOpenAPI checks the real server's requests and responses
// against it.
//
//go:embed openapi.json
var openAPIDocument []byte

func serveOpenAPI(c echo.Context) error {
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, openAPIDocument)
}
