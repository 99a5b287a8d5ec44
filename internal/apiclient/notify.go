package apiclient

import (
	"context"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/lifecycle"
)

const (
	channelPath      = "/domains/{domain}/channels/{channel}"
	notificationPath = "/domains/{domain}/notifications/{notification}"
)

// GetNotificationSettings returns the domain's owners and expiry-notice
// schedule and thresholds.
func (c *Client) GetNotificationSettings(ctx context.Context, domain string) (watchword.NotificationSettings, error) {
	return call[watchword.NotificationSettings](ctx, c, "GET", domainPath+"/notification-settings", nil, nil, domain)
}

// SetNotificationSettings replaces the domain's notification settings;
// empty fields take their defaults.
func (c *Client) SetNotificationSettings(ctx context.Context, domain string, n watchword.NotificationSettings) (watchword.NotificationSettings, error) {
	return call[watchword.NotificationSettings](ctx, c, "PUT", domainPath+"/notification-settings", nil, n, domain)
}

// ListChannels returns the domain's notification channels.
func (c *Client) ListChannels(ctx context.Context, domain string) (List[watchword.Channel], error) {
	return call[List[watchword.Channel]](ctx, c, "GET", domainPath+"/channels", nil, nil, domain)
}

// CreateChannel adds a channel; a webhook's signing secret is in the
// result only.
func (c *Client) CreateChannel(ctx context.Context, domain string, in lifecycle.ChannelCreate) (lifecycle.ChannelCreated, error) {
	return call[lifecycle.ChannelCreated](ctx, c, "POST", domainPath+"/channels", nil, in, domain)
}

// GetChannel returns a channel by id or name.
func (c *Client) GetChannel(ctx context.Context, domain, channel string) (watchword.Channel, error) {
	return call[watchword.Channel](ctx, c, "GET", channelPath, nil, nil, domain, channel)
}

// UpdateChannel applies a partial update: nil fields of u are unchanged.
func (c *Client) UpdateChannel(ctx context.Context, domain, channel string, u watchword.ChannelUpdate) (watchword.Channel, error) {
	return call[watchword.Channel](ctx, c, "PATCH", channelPath, nil, u, domain, channel)
}

// DeleteChannel removes a channel.
func (c *Client) DeleteChannel(ctx context.Context, domain, channel string) error {
	_, err := call[none](ctx, c, "DELETE", channelPath, nil, nil, domain, channel)
	return err
}

// RotateChannelSecret gives a webhook channel a new signing secret, in the
// result only.
func (c *Client) RotateChannelSecret(ctx context.Context, domain, channel string, in lifecycle.SigningSecretRotate) (lifecycle.ChannelCreated, error) {
	return call[lifecycle.ChannelCreated](ctx, c, "POST", channelPath+"/rotate-secret", nil, in, domain, channel)
}

// ListNotifications returns a page of the domain's notifications, newest
// first. Of f, Status, EventType, ChannelID, ClientID, SecretID, Offset and
// Limit are used (a channel or client may be given by name).
func (c *Client) ListNotifications(ctx context.Context, domain string, f watchword.NotificationFilter) (List[watchword.Notification], error) {
	q := page(f.Offset, f.Limit)
	for k, v := range map[string]string{
		"status": string(f.Status), "event": f.EventType, "channel": f.ChannelID, "client": f.ClientID, "secret": f.SecretID,
	} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return call[List[watchword.Notification]](ctx, c, "GET", domainPath+"/notifications", q, nil, domain)
}

// GetNotification returns one notification and its delivery state.
func (c *Client) GetNotification(ctx context.Context, domain, id string) (watchword.Notification, error) {
	return call[watchword.Notification](ctx, c, "GET", notificationPath, nil, nil, domain, id)
}

// RetryNotification sends a failed notification again.
func (c *Client) RetryNotification(ctx context.Context, domain, id string) (watchword.Notification, error) {
	return call[watchword.Notification](ctx, c, "POST", notificationPath+"/retry", nil, nil, domain, id)
}
