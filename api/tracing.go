package api

import (
	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/trace"
)

// spanRoute names the request's span by its method and route (echo's path
// template, such as POST /v1/accounts/:id/deposits), once echo has routed
// it: the HTTP handler that starts the span runs before routing.
func spanRoute(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		span := trace.SpanFromContext(c.Request().Context())
		span.SetName(c.Request().Method + " " + c.Path())
		return next(c)
	}
}
