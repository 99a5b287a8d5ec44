package httpapi

import (
	"net/http"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/lifecycle"
)

// Automated rotation: schedules, delivery targets and rotation runs.

func (s *Server) handleDomainRotationGet(w http.ResponseWriter, r *http.Request) error {
	d, err := s.Service.GetDomain(r.Context(), r.PathValue("domain"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d.Rotation)
	return nil
}

func (s *Server) handleDomainRotationSet(w http.ResponseWriter, r *http.Request) error {
	var sc watchword.RotationSchedule
	if err := decode(w, r, &sc); err != nil {
		return err
	}
	d, err := s.Service.SetDomainRotation(r.Context(), r.PathValue("domain"), sc)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d.Rotation)
	return nil
}

func (s *Server) handleClientRotationGet(w http.ResponseWriter, r *http.Request) error {
	out, err := s.Service.GetClientRotation(r.Context(), r.PathValue("domain"), r.PathValue("client"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleClientRotationSet(w http.ResponseWriter, r *http.Request) error {
	var sc watchword.RotationSchedule
	if err := decode(w, r, &sc); err != nil {
		return err
	}
	out, err := s.Service.SetClientRotation(r.Context(), r.PathValue("domain"), r.PathValue("client"), &sc)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleClientRotationDelete(w http.ResponseWriter, r *http.Request) error {
	out, err := s.Service.SetClientRotation(r.Context(), r.PathValue("domain"), r.PathValue("client"), nil)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// TargetCreated is the response to a delivery target's creation: the
// target and, for a webhook target created without a signing secret, the
// generated one, shown this once. A replay of the response (Idempotency-Key)
// has SigningSecretRedacted instead of the value.
type TargetCreated struct {
	lifecycle.TargetView
	SigningSecretRedacted bool `json:"signing_secret_redacted,omitempty"`
}

func (s *Server) handleTargetList(w http.ResponseWriter, r *http.Request) error {
	ts, err := s.Service.ListDeliveryTargets(r.Context(), r.PathValue("domain"), r.PathValue("client"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list(ts, len(ts), 0, len(ts)))
	return nil
}

func (s *Server) handleTargetCreate(w http.ResponseWriter, r *http.Request) error {
	var in lifecycle.TargetCreate
	if err := decode(w, r, &in); err != nil {
		return err
	}
	v, err := s.Service.AddDeliveryTarget(r.Context(), r.PathValue("domain"), r.PathValue("client"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, TargetCreated{TargetView: v})
	return nil
}

func (s *Server) handleTargetUpdate(w http.ResponseWriter, r *http.Request) error {
	var u lifecycle.TargetUpdate
	if err := decode(w, r, &u); err != nil {
		return err
	}
	t, err := s.Service.UpdateDeliveryTarget(r.Context(), r.PathValue("domain"), r.PathValue("client"), r.PathValue("target"), u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, t)
	return nil
}

func (s *Server) handleTargetDelete(w http.ResponseWriter, r *http.Request) error {
	if err := s.Service.DeleteDeliveryTarget(r.Context(), r.PathValue("domain"), r.PathValue("client"), r.PathValue("target")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// noBody reads the optional body of an operation that takes no input: it
// may be absent or an empty object; any member is refused, so that a
// caller who expects a field to have an effect learns that it has none.
func noBody(w http.ResponseWriter, r *http.Request) error {
	var in struct{}
	return decode(w, r, &in)
}

func (s *Server) handleRunStart(w http.ResponseWriter, r *http.Request) error {
	if err := noBody(w, r); err != nil {
		return err
	}
	run, err := s.Service.StartRotation(r.Context(), r.PathValue("domain"), r.PathValue("client"))
	if err != nil {
		return err
	}
	// Accepted: the background job runner carries the run out.
	writeJSON(w, http.StatusAccepted, run)
	return nil
}

func (s *Server) handleRunList(w http.ResponseWriter, r *http.Request) error {
	offset, limit, err := page(r)
	if err != nil {
		return err
	}
	rs, total, err := s.Service.ListRotationRuns(r.Context(), r.PathValue("domain"), r.PathValue("client"), offset, limit)
	if err != nil {
		return err
	}
	offset, limit = lifecycle.Page(offset, limit)
	writeJSON(w, http.StatusOK, list(rs, total, offset, limit))
	return nil
}

func (s *Server) handleRunGet(w http.ResponseWriter, r *http.Request) error {
	run, err := s.Service.GetRotationRun(r.Context(), r.PathValue("domain"), r.PathValue("client"), r.PathValue("run"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, run)
	return nil
}

func (s *Server) handleRunRetry(w http.ResponseWriter, r *http.Request) error {
	if err := noBody(w, r); err != nil {
		return err
	}
	run, err := s.Service.RetryRotationRun(r.Context(), r.PathValue("domain"), r.PathValue("client"), r.PathValue("run"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, run)
	return nil
}

// RunCancel is the optional body of a run's cancel.
type RunCancel struct {
	Reason string `json:"reason,omitempty"`
}

func (s *Server) handleRunCancel(w http.ResponseWriter, r *http.Request) error {
	var in RunCancel
	if err := decode(w, r, &in); err != nil {
		return err
	}
	run, err := s.Service.CancelRotationRun(r.Context(), r.PathValue("domain"), r.PathValue("client"), r.PathValue("run"), in.Reason)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, run)
	return nil
}
