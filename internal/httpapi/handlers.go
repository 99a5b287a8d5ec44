package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/lifecycle"
)

func (s *Server) handleDomainList(w http.ResponseWriter, r *http.Request) error {
	ds, err := s.Service.ListDomains(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list(ds, len(ds), 0, len(ds)))
	return nil
}

func (s *Server) handleDomainCreate(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Name        string `json:"name"`
		Description string `json:"description"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	d, err := s.Service.CreateDomain(r.Context(), in.Name, in.Description)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, d)
	return nil
}

func (s *Server) handleDomainGet(w http.ResponseWriter, r *http.Request) error {
	d, err := s.Service.GetDomain(r.Context(), r.PathValue("domain"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d)
	return nil
}

func (s *Server) handleDomainPolicyGet(w http.ResponseWriter, r *http.Request) error {
	d, err := s.Service.GetDomain(r.Context(), r.PathValue("domain"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d.Policy)
	return nil
}

func (s *Server) handleDomainPolicySet(w http.ResponseWriter, r *http.Request) error {
	var p watchword.SecretPolicy
	if err := decode(w, r, &p); err != nil {
		return err
	}
	d, err := s.Service.SetDomainPolicy(r.Context(), r.PathValue("domain"), p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d.Policy)
	return nil
}

func (s *Server) handleDomainOAuthGet(w http.ResponseWriter, r *http.Request) error {
	d, err := s.Service.GetDomain(r.Context(), r.PathValue("domain"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d.OAuth)
	return nil
}

func (s *Server) handleDomainOAuthSet(w http.ResponseWriter, r *http.Request) error {
	var o watchword.DomainOAuth
	if err := decode(w, r, &o); err != nil {
		return err
	}
	d, err := s.Service.SetDomainOAuth(r.Context(), r.PathValue("domain"), o)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d.OAuth)
	return nil
}

func (s *Server) handlePolicyApply(w http.ResponseWriter, r *http.Request) error {
	n, err := s.Service.ApplyPolicy(r.Context(), r.PathValue("domain"), r.PathValue("client"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"secrets_changed": n})
	return nil
}

func (s *Server) handleClientList(w http.ResponseWriter, r *http.Request) error {
	offset, limit, err := page(r)
	if err != nil {
		return err
	}
	f := watchword.ClientFilter{NameContains: r.URL.Query().Get("name"), Offset: offset, Limit: limit}
	if v := r.URL.Query().Get("disabled"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return watchword.FieldError(watchword.EINVALID, "disabled", "Must be true or false.")
		}
		f.Disabled = &b
	}
	cs, total, err := s.Service.ListClients(r.Context(), r.PathValue("domain"), f)
	if err != nil {
		return err
	}
	offset, limit = lifecycle.Page(offset, limit)
	writeJSON(w, http.StatusOK, list(cs, total, offset, limit))
	return nil
}

// ClientCreated is the response to a client creation: the client and, for a
// confidential client, its first secret with the plaintext shown this once.
type ClientCreated struct {
	Client watchword.Client     `json:"client"`
	Secret *watchword.NewSecret `json:"secret,omitempty"`
}

func (s *Server) handleClientCreate(w http.ResponseWriter, r *http.Request) error {
	var in lifecycle.ClientCreate
	if err := decode(w, r, &in); err != nil {
		return err
	}
	c, ns, err := s.Service.CreateClient(r.Context(), r.PathValue("domain"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, ClientCreated{Client: c, Secret: ns})
	return nil
}

func (s *Server) handleClientGet(w http.ResponseWriter, r *http.Request) error {
	c, err := s.Service.GetClient(r.Context(), r.PathValue("domain"), r.PathValue("client"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (s *Server) handleClientUpdate(w http.ResponseWriter, r *http.Request) error {
	var u watchword.ClientUpdate
	if err := decode(w, r, &u); err != nil {
		return err
	}
	c, err := s.Service.UpdateClient(r.Context(), r.PathValue("domain"), r.PathValue("client"), u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, c)
	return nil
}

func (s *Server) handleClientDelete(w http.ResponseWriter, r *http.Request) error {
	if err := s.Service.DeleteClient(r.Context(), r.PathValue("domain"), r.PathValue("client")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleClientPolicyGet(w http.ResponseWriter, r *http.Request) error {
	p, err := s.Service.GetClientPolicy(r.Context(), r.PathValue("domain"), r.PathValue("client"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, p)
	return nil
}

func (s *Server) handleClientPolicySet(w http.ResponseWriter, r *http.Request) error {
	var p watchword.SecretPolicy
	if err := decode(w, r, &p); err != nil {
		return err
	}
	out, err := s.Service.SetClientPolicy(r.Context(), r.PathValue("domain"), r.PathValue("client"), &p)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleClientPolicyDelete(w http.ResponseWriter, r *http.Request) error {
	out, err := s.Service.SetClientPolicy(r.Context(), r.PathValue("domain"), r.PathValue("client"), nil)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleClientRotate(w http.ResponseWriter, r *http.Request) error {
	var in lifecycle.RotateRequest
	if err := decode(w, r, &in); err != nil {
		return err
	}
	res, err := s.Service.RotateClient(r.Context(), r.PathValue("domain"), r.PathValue("client"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, res)
	return nil
}

func (s *Server) handleRotationList(w http.ResponseWriter, r *http.Request) error {
	offset, limit, err := page(r)
	if err != nil {
		return err
	}
	rs, total, err := s.Service.ListRotations(r.Context(), r.PathValue("domain"), r.PathValue("client"), offset, limit)
	if err != nil {
		return err
	}
	offset, limit = lifecycle.Page(offset, limit)
	writeJSON(w, http.StatusOK, list(rs, total, offset, limit))
	return nil
}

func (s *Server) handleSecretList(w http.ResponseWriter, r *http.Request) error {
	ss, err := s.Service.ListSecrets(r.Context(), r.PathValue("domain"), r.PathValue("client"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list(ss, len(ss), 0, len(ss)))
	return nil
}

func (s *Server) handleSecretAdd(w http.ResponseWriter, r *http.Request) error {
	var in lifecycle.SecretCreate
	if err := decode(w, r, &in); err != nil {
		return err
	}
	ns, err := s.Service.AddSecret(r.Context(), r.PathValue("domain"), r.PathValue("client"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, ns)
	return nil
}

func (s *Server) handleSecretGet(w http.ResponseWriter, r *http.Request) error {
	sec, err := s.Service.GetSecret(r.Context(), r.PathValue("domain"), r.PathValue("client"), r.PathValue("secret"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sec)
	return nil
}

func (s *Server) handleSecretRenew(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Transition *watchword.Duration `json:"transition"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	res, err := s.Service.RenewSecret(r.Context(), r.PathValue("domain"), r.PathValue("client"), r.PathValue("secret"), in.Transition)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, res)
	return nil
}

func (s *Server) handleSecretRevoke(w http.ResponseWriter, r *http.Request) error {
	var in lifecycle.RevokeRequest
	if err := decode(w, r, &in); err != nil {
		return err
	}
	sec, err := s.Service.RevokeSecret(r.Context(), r.PathValue("domain"), r.PathValue("client"), r.PathValue("secret"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, sec)
	return nil
}

func (s *Server) handleSecretDelete(w http.ResponseWriter, r *http.Request) error {
	if err := s.Service.DeleteSecret(r.Context(), r.PathValue("domain"), r.PathValue("client"), r.PathValue("secret")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleAuditList(w http.ResponseWriter, r *http.Request) error {
	offset, limit, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := watchword.AuditFilter{TargetID: q.Get("target"), Action: q.Get("action"), Offset: offset, Limit: limit}
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return watchword.FieldError(watchword.EINVALID, "since", "Must be an RFC 3339 time.")
		}
		f.Since = &t
	}
	evs, total, err := s.Service.ListAudit(r.Context(), q.Get("domain"), f)
	if err != nil {
		return err
	}
	offset, limit = lifecycle.Page(offset, limit)
	writeJSON(w, http.StatusOK, list(evs, total, offset, limit))
	return nil
}

func (s *Server) handleTokenList(w http.ResponseWriter, r *http.Request) error {
	ts, err := s.Service.ListTokens(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list(ts, len(ts), 0, len(ts)))
	return nil
}

func (s *Server) handleTokenCreate(w http.ResponseWriter, r *http.Request) error {
	var in struct {
		Name string         `json:"name"`
		Role watchword.Role `json:"role"`
	}
	if err := decode(w, r, &in); err != nil {
		return err
	}
	t, err := s.Service.CreateToken(r.Context(), in.Name, in.Role)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, t)
	return nil
}

func (s *Server) handleTokenRevoke(w http.ResponseWriter, r *http.Request) error {
	t, err := s.Service.RevokeToken(r.Context(), r.PathValue("token"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}
