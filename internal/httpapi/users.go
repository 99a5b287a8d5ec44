package httpapi

import (
	"net/http"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/lifecycle"
)

func (s *Server) handleUserList(w http.ResponseWriter, r *http.Request) error {
	offset, limit, err := page(r)
	if err != nil {
		return err
	}
	us, total, err := s.Service.ListUsers(r.Context(), r.PathValue("domain"), offset, limit)
	if err != nil {
		return err
	}
	offset, limit = lifecycle.Page(offset, limit)
	writeJSON(w, http.StatusOK, list(us, total, offset, limit))
	return nil
}

func (s *Server) handleUserCreate(w http.ResponseWriter, r *http.Request) error {
	var in lifecycle.UserCreate
	if err := decode(w, r, &in); err != nil {
		return err
	}
	u, err := s.Service.CreateUser(r.Context(), r.PathValue("domain"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, u)
	return nil
}

func (s *Server) handleUserGet(w http.ResponseWriter, r *http.Request) error {
	u, err := s.Service.GetUser(r.Context(), r.PathValue("domain"), r.PathValue("user"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}

func (s *Server) handleUserUpdate(w http.ResponseWriter, r *http.Request) error {
	var up watchword.UserUpdate
	if err := decode(w, r, &up); err != nil {
		return err
	}
	u, err := s.Service.UpdateUser(r.Context(), r.PathValue("domain"), r.PathValue("user"), up)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, u)
	return nil
}
