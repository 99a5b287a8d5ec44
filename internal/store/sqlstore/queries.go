package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/store"
)

// Columns, in the order the scan functions read them.
const (
	domainCols   = "id, name, description, policy, oauth, notification_settings, created_at, updated_at, rotation"
	clientCols   = "id, domain_id, name, description, type, grant_types, redirect_uris, scopes, disabled, policy, oauth, created_at, updated_at, deleted_at, contacts, rotation"
	secretCols   = "id, client_id, description, hint, hash, key_id, source, created_at, created_by, expires_at, retiring_since, revoked_at, revoked_by, revoked_reason, deleted_at, last_used_at, use_count, expired_notified_at, stage"
	rotationCols = "id, client_id, at, initiated_by, kind, new_secret_id, new_secret_hint, old_secrets, transition, run_id"
	auditCols    = "id, occurred_at, actor, action, domain_id, target_type, target_id, outcome, request_id, details"
	tokenCols    = "id, name, role, hint, hash, key_id, created_at, created_by, revoked_at, revoked_by"
)

// where joins conditions with AND; an empty list selects everything.
func where(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(conds, " AND ")
}

// likeContains is a LIKE pattern matching s anywhere, with LIKE's wildcards
// in s escaped (ESCAPE '\').
func likeContains(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

// ---- domains

func scanDomain(sc scanner) (watchword.Domain, error) {
	var d watchword.Domain
	var policy, oauth, notify, rotation string
	var created, updated int64
	if err := sc.Scan(&d.ID, &d.Name, &d.Description, &policy, &oauth, &notify, &created, &updated, &rotation); err != nil {
		return d, err
	}
	d.CreatedAt, d.UpdatedAt = fromMicros(created), fromMicros(updated)
	if err := fromJSON(policy, &d.Policy); err != nil {
		return d, fmt.Errorf("domain %s policy: %w", d.ID, err)
	}
	if err := fromJSON(oauth, &d.OAuth); err != nil {
		return d, fmt.Errorf("domain %s oauth: %w", d.ID, err)
	}
	if err := fromJSON(notify, &d.Notifications); err != nil {
		return d, fmt.Errorf("domain %s notification settings: %w", d.ID, err)
	}
	if err := fromJSON(rotation, &d.Rotation); err != nil {
		return d, fmt.Errorf("domain %s rotation: %w", d.ID, err)
	}
	return d, nil
}

func (r *reader) GetDomain(ctx context.Context, id string) (watchword.Domain, error) {
	d, err := scanDomain(r.queryRow(ctx, "SELECT "+domainCols+" FROM domains WHERE id = ?", id))
	if err != nil {
		return d, r.fail("get domain", err)
	}
	return d, nil
}

func (r *reader) GetDomainByName(ctx context.Context, name string) (watchword.Domain, error) {
	d, err := scanDomain(r.queryRow(ctx, "SELECT "+domainCols+" FROM domains WHERE name = ?", name))
	if err != nil {
		return d, r.fail("get domain", err)
	}
	return d, nil
}

// ListDomains returns every domain ordered by name.
func (r *reader) ListDomains(ctx context.Context) ([]watchword.Domain, error) {
	return list(ctx, r, "list domains", scanDomain, "SELECT "+domainCols+" FROM domains ORDER BY name")
}

// domainJSON encodes the policy, OAuth settings, notification settings and
// rotation schedule of d.
func domainJSON(d watchword.Domain) (policy, oauth, notify, rotation string, err error) {
	if policy, err = toJSON(d.Policy); err != nil {
		return "", "", "", "", err
	}
	if oauth, err = toJSON(d.OAuth); err != nil {
		return "", "", "", "", err
	}
	if notify, err = toJSON(d.Notifications); err != nil {
		return "", "", "", "", err
	}
	rotation, err = toJSON(d.Rotation)
	return policy, oauth, notify, rotation, err
}

func (t *txn) CreateDomain(ctx context.Context, d watchword.Domain) error {
	policy, oauth, notify, rotation, err := domainJSON(d)
	if err != nil {
		return fmt.Errorf("create domain: %w", err)
	}
	return t.execOne(ctx, "create domain", true,
		"INSERT INTO domains ("+domainCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		d.ID, d.Name, d.Description, policy, oauth, notify, micros(d.CreatedAt), micros(d.UpdatedAt), rotation)
}

func (t *txn) UpdateDomain(ctx context.Context, d watchword.Domain) error {
	policy, oauth, notify, rotation, err := domainJSON(d)
	if err != nil {
		return fmt.Errorf("update domain: %w", err)
	}
	return t.execOne(ctx, "update domain", true,
		`UPDATE domains SET name = ?, description = ?, policy = ?, oauth = ?, notification_settings = ?, updated_at = ?,
			rotation = ?
		WHERE id = ?`,
		d.Name, d.Description, policy, oauth, notify, micros(d.UpdatedAt), rotation, d.ID)
}

// ---- clients

func scanClient(sc scanner) (watchword.Client, error) {
	var c watchword.Client
	var grants, redirects, scopes, oauth, contacts string
	var policy, rotation sql.NullString
	var created, updated int64
	var deleted sql.NullInt64
	err := sc.Scan(&c.ID, &c.DomainID, &c.Name, &c.Description, &c.Type, &grants, &redirects, &scopes,
		&c.Disabled, &policy, &oauth, &created, &updated, &deleted, &contacts, &rotation)
	if err != nil {
		return c, err
	}
	c.CreatedAt, c.UpdatedAt, c.DeletedAt = fromMicros(created), fromMicros(updated), fromNullMicros(deleted)
	for _, f := range []struct {
		s string
		v any
	}{{grants, &c.GrantTypes}, {redirects, &c.RedirectURIs}, {scopes, &c.Scopes}, {oauth, &c.OAuth}, {contacts, &c.Contacts}} {
		if err := fromJSON(f.s, f.v); err != nil {
			return c, fmt.Errorf("client %s: %w", c.ID, err)
		}
	}
	if policy.Valid {
		c.Policy = new(watchword.SecretPolicy)
		if err := fromJSON(policy.String, c.Policy); err != nil {
			return c, fmt.Errorf("client %s policy: %w", c.ID, err)
		}
	}
	if rotation.Valid {
		c.Rotation = new(watchword.RotationSchedule)
		if err := fromJSON(rotation.String, c.Rotation); err != nil {
			return c, fmt.Errorf("client %s rotation: %w", c.ID, err)
		}
	}
	return c, nil
}

// clientArgs are the values of clientCols after id and domain_id.
func clientArgs(c watchword.Client) ([]any, error) {
	grants, err1 := toJSON(c.GrantTypes)
	redirects, err2 := toJSON(c.RedirectURIs)
	scopes, err3 := toJSON(c.Scopes)
	policy, err4 := nullJSON(c.Policy)
	oauth, err5 := toJSON(c.OAuth)
	contacts, err6 := toJSON(c.Contacts)
	rotation, err7 := nullJSON(c.Rotation)
	for _, err := range []error{err1, err2, err3, err4, err5, err6, err7} {
		if err != nil {
			return nil, err
		}
	}
	return []any{c.Name, c.Description, string(c.Type), grants, redirects, scopes, c.Disabled, policy, oauth,
		micros(c.CreatedAt), micros(c.UpdatedAt), nullMicros(c.DeletedAt), contacts, rotation}, nil
}

func (r *reader) GetClient(ctx context.Context, domainID, id string) (watchword.Client, error) {
	c, err := scanClient(r.queryRow(ctx,
		"SELECT "+clientCols+" FROM clients WHERE domain_id = ? AND id = ? AND deleted_at IS NULL", domainID, id))
	if err != nil {
		return c, r.fail("get client", err)
	}
	return c, nil
}

func (r *reader) GetClientByName(ctx context.Context, domainID, name string) (watchword.Client, error) {
	c, err := scanClient(r.queryRow(ctx,
		"SELECT "+clientCols+" FROM clients WHERE domain_id = ? AND name = ? AND deleted_at IS NULL", domainID, name))
	if err != nil {
		return c, r.fail("get client", err)
	}
	return c, nil
}

// ListClients matches NameContains case-insensitively; an empty DomainID
// lists the clients of every domain.
func (r *reader) ListClients(ctx context.Context, f watchword.ClientFilter) ([]watchword.Client, int, error) {
	conds, args := []string{"deleted_at IS NULL"}, []any{}
	if f.DomainID != "" {
		conds, args = append(conds, "domain_id = ?"), append(args, f.DomainID)
	}
	if f.NameContains != "" {
		conds = append(conds, `lower(name) LIKE ? ESCAPE '\'`)
		args = append(args, likeContains(strings.ToLower(f.NameContains)))
	}
	if f.Disabled != nil {
		conds, args = append(conds, "disabled = ?"), append(args, *f.Disabled)
	}
	return page(ctx, r, "list clients", scanClient, "clients", clientCols, where(conds), "name, id", args, f.Offset, f.Limit)
}

func (t *txn) LockClient(ctx context.Context, domainID, id string) (watchword.Client, error) {
	c, err := scanClient(t.queryRow(ctx,
		"SELECT "+clientCols+" FROM clients WHERE domain_id = ? AND id = ? AND deleted_at IS NULL"+t.d.LockClientSuffix,
		domainID, id))
	if err != nil {
		return c, t.fail("lock client", err)
	}
	return c, nil
}

func (t *txn) CreateClient(ctx context.Context, c watchword.Client) error {
	args, err := clientArgs(c)
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	return t.execOne(ctx, "create client", true,
		"INSERT INTO clients ("+clientCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		append([]any{c.ID, c.DomainID}, args...)...)
}

// UpdateClient replaces a live client's fields; setting DeletedAt deletes it,
// after which it is not found. CreatedAt is immutable.
func (t *txn) UpdateClient(ctx context.Context, c watchword.Client) error {
	args, err := clientArgs(c)
	if err != nil {
		return fmt.Errorf("update client: %w", err)
	}
	args = append(args[:9:9], args[10:]...) // drop created_at
	return t.execOne(ctx, "update client", true,
		`UPDATE clients SET name = ?, description = ?, type = ?, grant_types = ?, redirect_uris = ?, scopes = ?,
			disabled = ?, policy = ?, oauth = ?, updated_at = ?, deleted_at = ?, contacts = ?, rotation = ?
		WHERE domain_id = ? AND id = ? AND deleted_at IS NULL`,
		append(args, c.DomainID, c.ID)...)
}

// ---- secrets

func scanSecret(sc scanner) (watchword.Secret, error) {
	var s watchword.Secret
	var created int64
	var expires, retiring, revoked, deleted, used, expiredNotified sql.NullInt64
	err := sc.Scan(&s.ID, &s.ClientID, &s.Description, &s.Hint, &s.Hash, &s.KeyID, &s.Source, &created, &s.CreatedBy,
		&expires, &retiring, &revoked, &s.RevokedBy, &s.RevokedReason, &deleted, &used, &s.UseCount, &expiredNotified,
		&s.Stage)
	if err != nil {
		return s, err
	}
	s.CreatedAt = fromMicros(created)
	s.ExpiresAt, s.RetiringSince, s.RevokedAt = fromNullMicros(expires), fromNullMicros(retiring), fromNullMicros(revoked)
	s.DeletedAt, s.LastUsedAt = fromNullMicros(deleted), fromNullMicros(used)
	s.ExpiredNotifiedAt = fromNullMicros(expiredNotified)
	return s, nil
}

func (r *reader) GetSecret(ctx context.Context, id string) (watchword.Secret, error) {
	s, err := scanSecret(r.queryRow(ctx, "SELECT "+secretCols+" FROM secrets WHERE id = ?", id))
	if err != nil {
		return s, r.fail("get secret", err)
	}
	return s, nil
}

func (r *reader) ListSecrets(ctx context.Context, clientID string) ([]watchword.Secret, error) {
	return list(ctx, r, "list secrets", scanSecret,
		"SELECT "+secretCols+" FROM secrets WHERE client_id = ? AND deleted_at IS NULL ORDER BY created_at, id", clientID)
}

func (t *txn) CreateSecret(ctx context.Context, s watchword.Secret) error {
	return t.execOne(ctx, "create secret", true,
		"INSERT INTO secrets ("+secretCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		s.ID, s.ClientID, s.Description, s.Hint, s.Hash, s.KeyID, string(s.Source), micros(s.CreatedAt), s.CreatedBy,
		nullMicros(s.ExpiresAt), nullMicros(s.RetiringSince), nullMicros(s.RevokedAt), s.RevokedBy, s.RevokedReason,
		nullMicros(s.DeletedAt), nullMicros(s.LastUsedAt), s.UseCount, nullMicros(s.ExpiredNotifiedAt), string(s.Stage))
}

// UpdateSecret replaces a secret's fields except its client, creation and
// ExpiredNotifiedAt (see MarkSecretExpired).
func (t *txn) UpdateSecret(ctx context.Context, s watchword.Secret) error {
	return t.execOne(ctx, "update secret", false,
		`UPDATE secrets SET description = ?, hint = ?, hash = ?, key_id = ?, source = ?, expires_at = ?,
			retiring_since = ?, revoked_at = ?, revoked_by = ?, revoked_reason = ?, deleted_at = ?,
			last_used_at = ?, use_count = ?, stage = ?
		WHERE id = ?`,
		s.Description, s.Hint, s.Hash, s.KeyID, string(s.Source), nullMicros(s.ExpiresAt),
		nullMicros(s.RetiringSince), nullMicros(s.RevokedAt), s.RevokedBy, s.RevokedReason, nullMicros(s.DeletedAt),
		nullMicros(s.LastUsedAt), s.UseCount, string(s.Stage), s.ID)
}

// ---- rotations

func scanRotation(sc scanner) (watchword.Rotation, error) {
	var rot watchword.Rotation
	var at, transition int64
	var old string
	err := sc.Scan(&rot.ID, &rot.ClientID, &at, &rot.InitiatedBy, &rot.Kind, &rot.NewSecretID, &rot.NewSecretHint,
		&old, &transition, &rot.RunID)
	if err != nil {
		return rot, err
	}
	rot.At, rot.Transition = fromMicros(at), watchword.Duration(transition)
	if err := fromJSON(old, &rot.Old); err != nil {
		return rot, fmt.Errorf("rotation %s: %w", rot.ID, err)
	}
	for i := range rot.Old {
		// JSON keeps the instant but not the location pointer; normalise
		// like every other time the store returns.
		if at := rot.Old[i].ExpiresAt; at != nil {
			*at = store.Truncate(*at)
		}
	}
	return rot, nil
}

func (r *reader) ListRotations(ctx context.Context, clientID string, offset, limit int) ([]watchword.Rotation, int, error) {
	return page(ctx, r, "list rotations", scanRotation, "rotations", rotationCols, " WHERE client_id = ?",
		"at DESC, id DESC", []any{clientID}, offset, limit)
}

func (t *txn) CreateRotation(ctx context.Context, rot watchword.Rotation) error {
	old := make([]watchword.RotatedSecret, len(rot.Old))
	for i, o := range rot.Old {
		if o.ExpiresAt != nil {
			at := store.Truncate(*o.ExpiresAt)
			o.ExpiresAt = &at
		}
		old[i] = o
	}
	if rot.Old == nil {
		old = nil
	}
	oldJSON, err := toJSON(old)
	if err != nil {
		return fmt.Errorf("create rotation: %w", err)
	}
	return t.execOne(ctx, "create rotation", true,
		"INSERT INTO rotations ("+rotationCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		rot.ID, rot.ClientID, micros(rot.At), rot.InitiatedBy, rot.Kind, rot.NewSecretID, rot.NewSecretHint,
		oldJSON, int64(rot.Transition), rot.RunID)
}

// ---- audit

func scanAudit(sc scanner) (watchword.AuditEvent, error) {
	var e watchword.AuditEvent
	var at int64
	var details sql.NullString
	err := sc.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.DomainID, &e.TargetType, &e.TargetID, &e.Outcome,
		&e.RequestID, &details)
	if err != nil {
		return e, err
	}
	e.Time = fromMicros(at)
	if details.Valid {
		if err := fromJSON(details.String, &e.Details); err != nil {
			return e, fmt.Errorf("audit event %d: %w", e.ID, err)
		}
	}
	return e, nil
}

// ListAuditEvents returns events matching every set field of f; Since is
// inclusive.
func (r *reader) ListAuditEvents(ctx context.Context, f watchword.AuditFilter) ([]watchword.AuditEvent, int, error) {
	var conds []string
	var args []any
	for _, c := range []struct{ col, v string }{
		{"domain_id", f.DomainID}, {"target_id", f.TargetID}, {"action", f.Action},
	} {
		if c.v != "" {
			conds, args = append(conds, c.col+" = ?"), append(args, c.v)
		}
	}
	if f.Since != nil {
		conds, args = append(conds, "occurred_at >= ?"), append(args, micros(*f.Since))
	}
	return page(ctx, r, "list audit events", scanAudit, "audit_events", auditCols, where(conds), "id DESC",
		args, f.Offset, f.Limit)
}

func (t *txn) AppendAudit(ctx context.Context, e watchword.AuditEvent) error {
	details, err := toJSON(e.Details)
	if err != nil {
		return fmt.Errorf("append audit: %w", err)
	}
	return t.execOne(ctx, "append audit", false,
		`INSERT INTO audit_events (occurred_at, actor, action, domain_id, target_type, target_id, outcome, request_id, details)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		micros(e.Time), e.Actor, e.Action, e.DomainID, e.TargetType, e.TargetID, e.Outcome, e.RequestID, details)
}

// ---- admin tokens

func scanToken(sc scanner) (watchword.AdminToken, error) {
	var tok watchword.AdminToken
	var created int64
	var revoked sql.NullInt64
	err := sc.Scan(&tok.ID, &tok.Name, &tok.Role, &tok.Hint, &tok.Hash, &tok.KeyID, &created, &tok.CreatedBy,
		&revoked, &tok.RevokedBy)
	if err != nil {
		return tok, err
	}
	tok.CreatedAt, tok.RevokedAt = fromMicros(created), fromNullMicros(revoked)
	return tok, nil
}

func (r *reader) GetAdminToken(ctx context.Context, id string) (watchword.AdminToken, error) {
	tok, err := scanToken(r.queryRow(ctx, "SELECT "+tokenCols+" FROM admin_tokens WHERE id = ?", id))
	if err != nil {
		return tok, r.fail("get admin token", err)
	}
	return tok, nil
}

func (r *reader) ListAdminTokens(ctx context.Context) ([]watchword.AdminToken, error) {
	return list(ctx, r, "list admin tokens", scanToken, "SELECT "+tokenCols+" FROM admin_tokens ORDER BY created_at, id")
}

func (t *txn) CreateAdminToken(ctx context.Context, tok watchword.AdminToken) error {
	return t.execOne(ctx, "create admin token", true,
		"INSERT INTO admin_tokens ("+tokenCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		tok.ID, tok.Name, string(tok.Role), tok.Hint, tok.Hash, tok.KeyID, micros(tok.CreatedAt), tok.CreatedBy,
		nullMicros(tok.RevokedAt), tok.RevokedBy)
}

// UpdateAdminToken replaces a token's fields except its creation.
func (t *txn) UpdateAdminToken(ctx context.Context, tok watchword.AdminToken) error {
	return t.execOne(ctx, "update admin token", false,
		"UPDATE admin_tokens SET name = ?, role = ?, hint = ?, hash = ?, key_id = ?, revoked_at = ?, revoked_by = ? WHERE id = ?",
		tok.Name, string(tok.Role), tok.Hint, tok.Hash, tok.KeyID, nullMicros(tok.RevokedAt), tok.RevokedBy, tok.ID)
}

// ---- generic list and page

// list runs a query and scans every row. It never returns a nil slice, so
// that an empty list encodes as [] rather than null.
func list[T any](ctx context.Context, r *reader, op string, scan func(scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := r.query(ctx, query, args...)
	if err != nil {
		return nil, r.fail(op, err)
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, r.fail(op, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, r.fail(op, err)
	}
	return out, nil
}

// page returns one page of table rows matching whereSQL, normalised by
// store.Page, and the number of all matching rows.
func page[T any](ctx context.Context, r *reader, op string, scan func(scanner) (T, error),
	table, cols, whereSQL, orderBy string, args []any, offset, limit int,
) ([]T, int, error) {
	offset, limit = store.Page(offset, limit)
	var total int
	if err := r.queryRow(ctx, "SELECT COUNT(*) FROM "+table+whereSQL, args...).Scan(&total); err != nil {
		return nil, 0, r.fail(op, err)
	}
	items, err := list(ctx, r, op, scan,
		"SELECT "+cols+" FROM "+table+whereSQL+" ORDER BY "+orderBy+" LIMIT ? OFFSET ?",
		append(args[:len(args):len(args)], limit, offset)...)
	if err != nil {
		return nil, 0, err
	}
	return items, total, nil
}
