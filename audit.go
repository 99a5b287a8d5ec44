package watchword

import "time"

// Audit actions. Every state change records exactly one of these.
const (
	ActionDomainCreate = "domain.create"
	ActionDomainUpdate = "domain.update"
	ActionPolicyUpdate = "policy.update"
	ActionPolicyApply  = "policy.apply"
	ActionClientCreate = "client.create"
	ActionClientUpdate = "client.update"
	ActionClientDelete = "client.delete"
	ActionSecretAdd    = "secret.add"
	ActionSecretRenew  = "secret.renew"
	ActionSecretRevoke = "secret.revoke"
	ActionSecretDelete = "secret.delete"
	ActionClientRotate = "client.rotate"
	ActionTokenCreate  = "token.create"
	ActionTokenRevoke  = "token.revoke"
	ActionDenied       = "request.denied"
	ActionUserCreate   = "user.create"
	ActionUserUpdate   = "user.update"
	// ActionTokenReuse records that a used refresh token or authorization
	// code was presented again and its token family was revoked (RFC 9700).
	ActionTokenReuse = "token.reuse_detected"

	// ActionSecretExpire records, once per secret, that the expiry sweep
	// found the secret expired (it stopped authenticating at its expiry).
	ActionSecretExpire = "secret.expire"
	// ActionSecretExpiryNotice records an upcoming-expiry notice, once per
	// secret and threshold.
	ActionSecretExpiryNotice   = "secret.expiry_notice"
	ActionNotifySettingsUpdate = "notifications.settings_update"
	ActionChannelCreate        = "channel.create"
	ActionChannelUpdate        = "channel.update"
	ActionChannelDelete        = "channel.delete"
	ActionChannelRotateSecret  = "channel.rotate_secret"
	ActionNotificationRetry    = "notification.retry"
	// Automated rotation: schedules, delivery targets, and each run's
	// start, steps, end and the operator's retry or cancel.
	ActionRotationScheduleUpdate = "rotation.schedule_update"
	ActionTargetCreate           = "target.create"
	ActionTargetDelete           = "target.delete"
	ActionTargetUpdate           = "target.update"
	ActionRotationStart          = "rotation.start"
	ActionRotationStep           = "rotation.step"
	ActionRotationComplete       = "rotation.complete"
	ActionRotationFail           = "rotation.fail"
	ActionRotationRetry          = "rotation.retry"
	ActionRotationCancel         = "rotation.cancel"
)

// Audit outcomes.
const (
	OutcomeSuccess = "success"
	OutcomeDenied  = "denied"
)

// AuditEvent is one append-only audit record. It never holds secret material.
type AuditEvent struct {
	ID         int64             `json:"id"`
	Time       time.Time         `json:"time"`
	Actor      string            `json:"actor"`
	Action     string            `json:"action"`
	DomainID   string            `json:"domain_id,omitempty"`
	TargetType string            `json:"target_type,omitempty"`
	TargetID   string            `json:"target_id,omitempty"`
	Outcome    string            `json:"outcome"`
	RequestID  string            `json:"request_id,omitempty"`
	Details    map[string]string `json:"details,omitempty"`
}

// AuditFilter selects audit events; newest first.
type AuditFilter struct {
	DomainID string
	TargetID string
	Action   string
	Since    *time.Time
	Offset   int
	Limit    int
}
