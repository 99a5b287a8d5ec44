// Package httpapi serves the management API (/admin/v1) on the admin
// listener: JSON resources, bearer admin tokens with roles checked on every
// route, RFC 9457 problem errors.
package httpapi

import (
	"context"
	_ "embed"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/lifecycle"
)

// Prefix is the versioned path of the management API.
const Prefix = "/admin/v1"

//go:embed openapi.yaml
var openAPI []byte

// Server is the management API handler.
type Server struct {
	Service *lifecycle.Service
	Logger  *slog.Logger
	mux     *http.ServeMux
}

// Roles allowed on a route.
var (
	anyRole   = []watchword.Role{watchword.RoleAdmin, watchword.RoleSecretManager, watchword.RoleViewer, watchword.RoleAuditor}
	readers   = []watchword.Role{watchword.RoleAdmin, watchword.RoleSecretManager, watchword.RoleViewer}
	managers  = []watchword.Role{watchword.RoleAdmin, watchword.RoleSecretManager}
	auditors  = []watchword.Role{watchword.RoleAdmin, watchword.RoleAuditor}
	adminOnly = []watchword.Role{watchword.RoleAdmin}
)

// Route is one management API operation; the table drives both the mux and
// the test that keeps openapi.yaml in sync.
type Route struct {
	Method, Path string
	Roles        []watchword.Role // nil: no authentication
	handler      func(s *Server, w http.ResponseWriter, r *http.Request) error
}

// Routes lists every operation of the management API.
func Routes() []Route {
	const d, c, sec = "/domains/{domain}", "/domains/{domain}/clients/{client}", "/domains/{domain}/clients/{client}/secrets/{secret}"
	const u = "/domains/{domain}/users/{user}"
	return []Route{
		{"GET", "/openapi.yaml", nil, (*Server).handleOpenAPI},
		{"GET", "/whoami", anyRole, (*Server).handleWhoami},

		{"GET", "/domains", readers, (*Server).handleDomainList},
		{"POST", "/domains", adminOnly, (*Server).handleDomainCreate},
		{"GET", d, readers, (*Server).handleDomainGet},
		{"GET", d + "/policy", readers, (*Server).handleDomainPolicyGet},
		{"PUT", d + "/policy", adminOnly, (*Server).handleDomainPolicySet},
		{"POST", d + "/policy/apply", adminOnly, (*Server).handlePolicyApply},
		{"GET", d + "/oauth", readers, (*Server).handleDomainOAuthGet},
		{"PUT", d + "/oauth", adminOnly, (*Server).handleDomainOAuthSet},

		{"GET", d + "/clients", readers, (*Server).handleClientList},
		{"POST", d + "/clients", adminOnly, (*Server).handleClientCreate},
		{"GET", c, readers, (*Server).handleClientGet},
		{"PATCH", c, adminOnly, (*Server).handleClientUpdate},
		{"DELETE", c, adminOnly, (*Server).handleClientDelete},
		{"GET", c + "/policy", readers, (*Server).handleClientPolicyGet},
		{"PUT", c + "/policy", adminOnly, (*Server).handleClientPolicySet},
		{"DELETE", c + "/policy", adminOnly, (*Server).handleClientPolicyDelete},
		{"POST", c + "/policy/apply", adminOnly, (*Server).handlePolicyApply},
		{"POST", c + "/rotate", managers, (*Server).handleClientRotate},
		{"GET", c + "/rotations", anyRole, (*Server).handleRotationList},

		{"GET", d + "/rotation-schedule", readers, (*Server).handleDomainRotationGet},
		{"PUT", d + "/rotation-schedule", adminOnly, (*Server).handleDomainRotationSet},
		{"GET", c + "/rotation-schedule", readers, (*Server).handleClientRotationGet},
		{"PUT", c + "/rotation-schedule", adminOnly, (*Server).handleClientRotationSet},
		{"DELETE", c + "/rotation-schedule", adminOnly, (*Server).handleClientRotationDelete},
		{"GET", c + "/targets", readers, (*Server).handleTargetList},
		{"POST", c + "/targets", adminOnly, (*Server).handleTargetCreate},
		{"PATCH", c + "/targets/{target}", adminOnly, (*Server).handleTargetUpdate},
		{"DELETE", c + "/targets/{target}", adminOnly, (*Server).handleTargetDelete},
		{"POST", c + "/rotation-runs", managers, (*Server).handleRunStart},
		{"GET", c + "/rotation-runs", anyRole, (*Server).handleRunList},
		{"GET", c + "/rotation-runs/{run}", anyRole, (*Server).handleRunGet},
		{"POST", c + "/rotation-runs/{run}/retry", managers, (*Server).handleRunRetry},
		{"POST", c + "/rotation-runs/{run}/cancel", managers, (*Server).handleRunCancel},

		{"GET", c + "/secrets", readers, (*Server).handleSecretList},
		{"POST", c + "/secrets", managers, (*Server).handleSecretAdd},
		{"GET", sec, readers, (*Server).handleSecretGet},
		{"POST", sec + "/renew", managers, (*Server).handleSecretRenew},
		{"POST", sec + "/revoke", managers, (*Server).handleSecretRevoke},
		{"DELETE", sec, adminOnly, (*Server).handleSecretDelete},

		{"GET", d + "/users", readers, (*Server).handleUserList},
		{"POST", d + "/users", adminOnly, (*Server).handleUserCreate},
		{"GET", u, readers, (*Server).handleUserGet},
		{"PATCH", u, adminOnly, (*Server).handleUserUpdate},

		{"GET", d + "/notification-settings", readers, (*Server).handleNotificationSettingsGet},
		{"PUT", d + "/notification-settings", adminOnly, (*Server).handleNotificationSettingsSet},
		{"GET", d + "/channels", readers, (*Server).handleChannelList},
		{"POST", d + "/channels", adminOnly, (*Server).handleChannelCreate},
		{"GET", d + "/channels/{channel}", readers, (*Server).handleChannelGet},
		{"PATCH", d + "/channels/{channel}", adminOnly, (*Server).handleChannelUpdate},
		{"DELETE", d + "/channels/{channel}", adminOnly, (*Server).handleChannelDelete},
		{"POST", d + "/channels/{channel}/rotate-secret", adminOnly, (*Server).handleChannelRotateSecret},
		{"GET", d + "/notifications", readers, (*Server).handleNotificationList},
		{"GET", d + "/notifications/{notification}", readers, (*Server).handleNotificationGet},
		{"POST", d + "/notifications/{notification}/retry", adminOnly, (*Server).handleNotificationRetry},

		{"GET", "/audit", auditors, (*Server).handleAuditList},

		{"GET", "/tokens", adminOnly, (*Server).handleTokenList},
		{"POST", "/tokens", adminOnly, (*Server).handleTokenCreate},
		{"DELETE", "/tokens/{token}", adminOnly, (*Server).handleTokenRevoke},
	}
}

// New returns the management API handler.
func New(svc *lifecycle.Service, logger *slog.Logger) *Server {
	s := &Server{Service: svc, Logger: logger, mux: http.NewServeMux()}
	for _, rt := range Routes() {
		s.mux.Handle(rt.Method+" "+Prefix+rt.Path, s.route(rt))
	}
	s.mux.HandleFunc(Prefix+"/", func(w http.ResponseWriter, r *http.Request) {
		s.Error(w, r, watchword.Errorf(watchword.ENOTFOUND, "No such API route: %s %s.", r.Method, r.URL.Path))
	})
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// route wraps a handler with authentication and the role check (a refused
// call is audited) and, for a state-changing request with an
// Idempotency-Key, with its replay and recording (serveIdempotent).
func (s *Server) route(rt Route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rt.Roles != nil {
			ctx, err := s.authenticate(r)
			if err != nil {
				s.Service.RecordDenied(ctx, rt.Method+" "+rt.Path, "authentication failed")
				w.Header().Set("WWW-Authenticate", `Bearer realm="watchword-admin"`)
				s.Error(w, r, err)
				return
			}
			r = r.WithContext(ctx)
			if actor := watchword.ActorFromContext(ctx); !slices.Contains(rt.Roles, actor.Role) {
				s.Service.RecordDenied(ctx, rt.Method+" "+rt.Path, "role "+string(actor.Role)+" not allowed")
				s.Error(w, r, watchword.Errorf(watchword.EFORBIDDEN, "Role %q may not %s %s.", actor.Role, rt.Method, Prefix+rt.Path))
				return
			}
		}
		if changesState(rt.Method) {
			key, err := idempotencyKey(r.Header)
			if err != nil {
				s.Error(w, r, err)
				return
			}
			if key != "" {
				s.serveIdempotent(rt, key, w, r)
				return
			}
		}
		if err := rt.handler(s, w, r); err != nil {
			s.Error(w, r, err)
		}
	})
}

func (s *Server) authenticate(r *http.Request) (context.Context, error) {
	ctx := watchword.NewContextWithActor(r.Context(), watchword.Actor{ID: "anonymous", Role: ""})
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return ctx, watchword.Errorf(watchword.EUNAUTHORIZED, "Send an admin token as \"Authorization: Bearer <token>\".")
	}
	t, err := s.Service.AuthenticateToken(r.Context(), strings.TrimSpace(token))
	if err != nil {
		return ctx, err
	}
	return watchword.NewContextWithActor(r.Context(), watchword.Actor{ID: "token:" + t.ID, Name: t.Name, Role: t.Role}), nil
}

func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/yaml")
	_, err := w.Write(openAPI)
	return err
}

func (s *Server) handleWhoami(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, watchword.ActorFromContext(r.Context()))
	return nil
}

// List is the envelope of every paginated list.
type List[T any] struct {
	Items  []T `json:"items"`
	Total  int `json:"total"`
	Offset int `json:"offset"`
	Limit  int `json:"limit"`
}

// page reads the offset and limit query parameters.
func page(r *http.Request) (offset, limit int, err error) {
	read := func(name string) (int, error) {
		v := r.URL.Query().Get(name)
		if v == "" {
			return 0, nil
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return 0, watchword.FieldError(watchword.EINVALID, name, "Must be a non-negative integer.")
		}
		return n, nil
	}
	if offset, err = read("offset"); err != nil {
		return
	}
	limit, err = read("limit")
	return
}

func list[T any](items []T, total, offset, limit int) List[T] {
	if items == nil {
		items = []T{}
	}
	return List[T]{Items: items, Total: total, Offset: offset, Limit: limit}
}
