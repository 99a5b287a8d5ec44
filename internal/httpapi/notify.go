package httpapi

import (
	"net/http"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/lifecycle"
)

func (s *Server) handleNotificationSettingsGet(w http.ResponseWriter, r *http.Request) error {
	d, err := s.Service.GetDomain(r.Context(), r.PathValue("domain"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d.Notifications)
	return nil
}

func (s *Server) handleNotificationSettingsSet(w http.ResponseWriter, r *http.Request) error {
	var in watchword.NotificationSettings
	if err := decode(w, r, &in); err != nil {
		return err
	}
	d, err := s.Service.SetNotificationSettings(r.Context(), r.PathValue("domain"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, d.Notifications)
	return nil
}

func (s *Server) handleChannelList(w http.ResponseWriter, r *http.Request) error {
	chs, err := s.Service.ListChannels(r.Context(), r.PathValue("domain"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list(chs, len(chs), 0, len(chs)))
	return nil
}

func (s *Server) handleChannelCreate(w http.ResponseWriter, r *http.Request) error {
	var in lifecycle.ChannelCreate
	if err := decode(w, r, &in); err != nil {
		return err
	}
	out, err := s.Service.CreateChannel(r.Context(), r.PathValue("domain"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, out)
	return nil
}

func (s *Server) handleChannelGet(w http.ResponseWriter, r *http.Request) error {
	ch, err := s.Service.GetChannel(r.Context(), r.PathValue("domain"), r.PathValue("channel"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ch)
	return nil
}

func (s *Server) handleChannelUpdate(w http.ResponseWriter, r *http.Request) error {
	var u watchword.ChannelUpdate
	if err := decode(w, r, &u); err != nil {
		return err
	}
	ch, err := s.Service.UpdateChannel(r.Context(), r.PathValue("domain"), r.PathValue("channel"), u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, ch)
	return nil
}

func (s *Server) handleChannelDelete(w http.ResponseWriter, r *http.Request) error {
	if err := s.Service.DeleteChannel(r.Context(), r.PathValue("domain"), r.PathValue("channel")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) handleChannelRotateSecret(w http.ResponseWriter, r *http.Request) error {
	var in lifecycle.SigningSecretRotate
	if err := decode(w, r, &in); err != nil {
		return err
	}
	out, err := s.Service.RotateChannelSecret(r.Context(), r.PathValue("domain"), r.PathValue("channel"), in)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) handleNotificationList(w http.ResponseWriter, r *http.Request) error {
	offset, limit, err := page(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := watchword.NotificationFilter{
		Status: watchword.NotificationStatus(q.Get("status")), EventType: q.Get("event"),
		ChannelID: q.Get("channel"), ClientID: q.Get("client"), SecretID: q.Get("secret"),
		Offset: offset, Limit: limit,
	}
	ns, total, err := s.Service.ListNotifications(r.Context(), r.PathValue("domain"), f)
	if err != nil {
		return err
	}
	offset, limit = lifecycle.Page(offset, limit)
	writeJSON(w, http.StatusOK, list(ns, total, offset, limit))
	return nil
}

func (s *Server) handleNotificationGet(w http.ResponseWriter, r *http.Request) error {
	n, err := s.Service.GetNotification(r.Context(), r.PathValue("domain"), r.PathValue("notification"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, n)
	return nil
}

func (s *Server) handleNotificationRetry(w http.ResponseWriter, r *http.Request) error {
	n, err := s.Service.RetryNotification(r.Context(), r.PathValue("domain"), r.PathValue("notification"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, n)
	return nil
}
