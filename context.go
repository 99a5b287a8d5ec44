package watchword

import "context"

type contextKey int

const (
	actorContextKey contextKey = iota + 1
	requestIDContextKey
)

// Actor is the principal acting in a request: an admin token, or the system
// itself (schedulers, bootstrap).
type Actor struct {
	ID   string `json:"id"`
	Name string `json:"name"`
	Role Role   `json:"role"`
}

// String is the form recorded in audit and history ("token:ab12 (ci-bot)").
func (a Actor) String() string {
	if a.Name == "" {
		return a.ID
	}
	return a.ID + " (" + a.Name + ")"
}

// SystemActor is used for work the server does on its own.
var SystemActor = Actor{ID: "system", Role: RoleAdmin}

// NewContextWithActor returns a context carrying the acting principal.
func NewContextWithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorContextKey, a)
}

// ActorFromContext returns the acting principal, or SystemActor if none.
func ActorFromContext(ctx context.Context) Actor {
	if a, ok := ctx.Value(actorContextKey).(Actor); ok {
		return a
	}
	return SystemActor
}

// NewContextWithRequestID returns a context carrying the request id.
func NewContextWithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDContextKey, id)
}

// RequestIDFromContext returns the request id, or "".
func RequestIDFromContext(ctx context.Context) string {
	id, _ := ctx.Value(requestIDContextKey).(string)
	return id
}
