// Package storetest is the conformance suite every store backend must pass.
//
// A backend's test calls RunTests with a constructor of fresh stores:
//
//	func TestStore(t *testing.T) {
//		storetest.RunTests(t, func(t *testing.T) store.Store { … })
//	}
package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/store"
)

// RunTests runs the conformance suite. newStore must return a new, empty,
// migrated store and close it when t ends (t.Cleanup); it is called once per
// subtest.
//
// Behaviour pinned here beyond the store.Store comments: a panic in a Tx
// function rolls the transaction back and the panic goes on to the caller;
// an error from the function is returned as is; a write that fails with
// ErrAlreadyExists or ErrNotFound leaves the Tx usable; lists never return
// soft-deleted clients or secrets.
func RunTests(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		run  func(t *testing.T, s store.Store)
	}{
		{"Domains", testDomains},
		{"Clients", testClients},
		{"ClientLists", testClientLists},
		{"ClientNameReuse", testClientNameReuse},
		{"ListClients", testListClients},
		{"LockClient", testLockClient},
		{"Secrets", testSecrets},
		{"Rotations", testRotations},
		{"Audit", testAudit},
		{"AdminTokens", testAdminTokens},
		{"Times", testTimes},
		{"TxRollback", testTxRollback},
		{"TxPanic", testTxPanic},
		{"TxNow", testTxNow},
		{"TxUsableAfterError", testTxUsableAfterError},
		{"ConcurrentLockClient", func(t *testing.T, s store.Store) { RunConcurrencyTest(t, s) }},
		{"OppositeLockOrder", testOppositeLockOrder},

		{"SigningKeys", testSigningKeys},
		{"ConcurrentCreateSigningKey", testConcurrentCreateSigningKey},
		{"Users", testUsers},
		{"Consents", testConsents},
		{"AuthRequests", testAuthRequests},
		{"AuthCodes", testAuthCodes},
		{"ConcurrentUseAuthCode", testConcurrentUseAuthCode},
		{"RefreshTokens", testRefreshTokens},
		{"ConcurrentUseRefreshToken", testConcurrentUseRefreshToken},
		{"RevokeFamily", testRevokeFamily},
		{"RevokeClientGrants", testRevokeClientGrants},
		{"MarkClientFamiliesRevoked", testMarkClientFamiliesRevoked},
		{"RevokeUserGrants", testRevokeUserGrants},
		{"RevokedTokens", testRevokedTokens},
		{"RecordSecretUse", testRecordSecretUse},
		{"ConcurrentRecordSecretUse", testConcurrentRecordSecretUse},
		{"DeleteExpired", testDeleteExpired},
		{"GrantsRollback", testGrantsRollback},

		{"NotificationSettings", testNotificationSettings},
		{"Channels", testChannels},
		{"Notifications", testNotifications},
		{"ClaimNotifications", testClaimNotifications},
		{"ConcurrentClaimNotifications", func(t *testing.T, s store.Store) { RunClaimConcurrencyTest(t, s) }},
		{"MarkSecretExpired", testMarkSecretExpired},
		{"ExpiryNotices", testExpiryNotices},
		{"ExpiryQueries", testExpiryQueries},
		{"Jobs", testJobs},

		{"IdempotencyRecords", testIdempotencyRecords},
		{"ConcurrentCreateIdempotencyRecord", testConcurrentCreateIdempotencyRecord},

		{"RotationFields", testRotationFields},
		{"RotationRuns", testRotationRuns},
		{"OneRunningRun", testOneRunningRun},
		{"ListRotationRuns", testListRotationRuns},
		{"ClaimRotationRuns", testClaimRotationRuns},
		{"ConcurrentRotation", func(t *testing.T, s store.Store) { RunRotationConcurrencyTest(t, s) }},
		{"DeliveryTargets", testDeliveryTargets},
		{"RotationRollback", testRotationRollback},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, newStore(t)) })
	}
}

// ist has a half-hour offset and t0 has nanoseconds, so that every fixture
// checks truncation to microseconds and conversion to UTC.
var (
	ist = time.FixedZone("IST", 5*3600+30*60)
	t0  = time.Date(2026, 3, 14, 15, 9, 26, 535897932, ist)
)

func at(d time.Duration) time.Time { return t0.Add(d) }
func ptr[T any](v T) *T            { return &v }

// ---- fixtures

func newDomain(id, name string) watchword.Domain {
	return watchword.Domain{
		ID: id, Name: name, Description: "domain " + name, Policy: watchword.DefaultSecretPolicy(),
		OAuth: watchword.DefaultDomainOAuth(), CreatedAt: t0, UpdatedAt: t0,
	}
}

func newClient(id, domainID, name string) watchword.Client {
	return watchword.Client{
		ID: id, DomainID: domainID, Name: name, Description: "client " + name,
		Type:         watchword.ClientConfidential,
		GrantTypes:   []string{watchword.GrantClientCredentials},
		RedirectURIs: []string{"https://app.example/cb"},
		Scopes:       []string{"read", "write"},
		OAuth:        watchword.ClientOAuth{TokenEndpointAuthMethod: watchword.AuthMethodBasic},
		CreatedAt:    t0, UpdatedAt: t0,
	}
}

func newSecret(id, clientID string, created time.Time) watchword.Secret {
	return watchword.Secret{
		ID: id, ClientID: clientID, Description: "secret " + id, Hint: "ab12",
		Hash: []byte{0xde, 0xad, 0xbe, 0xef, 0x00, 0x01}, KeyID: "k1", Source: watchword.SourceGenerated,
		CreatedAt: created, CreatedBy: "token:t1 (ci)",
	}
}

func newToken(id string, created time.Time) watchword.AdminToken {
	return watchword.AdminToken{
		ID: id, Name: "token " + id, Role: watchword.RoleAdmin, Hint: "wxyz",
		Hash: []byte{1, 2, 3, 4}, KeyID: "k1", CreatedAt: created, CreatedBy: "system",
	}
}

// seed runs fn in a Tx and fails the test on error.
func seed(t *testing.T, s store.Store, fn func(tx store.Tx) error) {
	t.Helper()
	if err := s.Tx(t.Context(), fn); err != nil {
		t.Fatalf("seeding: %v", err)
	}
}

// seedDomainClient creates d unless it exists, and the clients cs.
func seedDomainClient(t *testing.T, s store.Store, d watchword.Domain, cs ...watchword.Client) {
	t.Helper()
	seed(t, s, func(tx store.Tx) error {
		if _, err := tx.GetDomain(t.Context(), d.ID); errors.Is(err, store.ErrNotFound) {
			if err := tx.CreateDomain(t.Context(), d); err != nil {
				return err
			}
		}
		for _, c := range cs {
			if err := tx.CreateClient(t.Context(), c); err != nil {
				return err
			}
		}
		return nil
	})
}

// ---- what a store returns for what was written

func tr(p *time.Time) *time.Time {
	if p == nil {
		return nil
	}
	return ptr(store.Truncate(*p))
}

func wantDomain(d watchword.Domain) watchword.Domain {
	d.CreatedAt, d.UpdatedAt = store.Truncate(d.CreatedAt), store.Truncate(d.UpdatedAt)
	return d
}

func wantClient(c watchword.Client) watchword.Client {
	c.CreatedAt, c.UpdatedAt, c.DeletedAt = store.Truncate(c.CreatedAt), store.Truncate(c.UpdatedAt), tr(c.DeletedAt)
	return c
}

func wantSecret(s watchword.Secret) watchword.Secret {
	s.CreatedAt = store.Truncate(s.CreatedAt)
	s.ExpiresAt, s.RetiringSince, s.RevokedAt = tr(s.ExpiresAt), tr(s.RetiringSince), tr(s.RevokedAt)
	s.DeletedAt, s.LastUsedAt, s.ExpiredNotifiedAt = tr(s.DeletedAt), tr(s.LastUsedAt), tr(s.ExpiredNotifiedAt)
	s.Status = "" // never stored
	return s
}

func wantRotation(r watchword.Rotation) watchword.Rotation {
	r.At = store.Truncate(r.At)
	if r.Old != nil {
		old := make([]watchword.RotatedSecret, len(r.Old))
		for i, o := range r.Old {
			o.ExpiresAt = tr(o.ExpiresAt)
			old[i] = o
		}
		r.Old = old
	}
	return r
}

func wantAudit(e watchword.AuditEvent) watchword.AuditEvent {
	e.Time = store.Truncate(e.Time)
	return e
}

func wantToken(tok watchword.AdminToken) watchword.AdminToken {
	tok.CreatedAt, tok.RevokedAt = store.Truncate(tok.CreatedAt), tr(tok.RevokedAt)
	return tok
}

// ---- assertions

func check(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s:\ngot  %s\nwant %s", what, dump(got), dump(want))
	}
}

func checkErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Errorf("%s: got error %v, want %v", what, err, want)
	}
}

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// dump formats v for a failure message: pointers followed, nil and empty
// told apart, times with their location, bytes in hex.
func dump(v any) string {
	var b strings.Builder
	dumpValue(&b, reflect.ValueOf(v))
	return b.String()
}

func dumpValue(b *strings.Builder, v reflect.Value) {
	if !v.IsValid() {
		b.WriteString("<nil>")
		return
	}
	if tm, ok := v.Interface().(time.Time); ok {
		b.WriteString(tm.Format(time.RFC3339Nano) + " " + tm.Location().String())
		return
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			b.WriteString("nil")
			return
		}
		if v.Kind() == reflect.Pointer {
			b.WriteString("&")
		}
		dumpValue(b, v.Elem())
	case reflect.Struct:
		b.WriteString(v.Type().Name() + "{")
		for i := range v.NumField() {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(v.Type().Field(i).Name + ":")
			dumpValue(b, v.Field(i))
		}
		b.WriteString("}")
	case reflect.Slice:
		switch {
		case v.IsNil():
			b.WriteString("nil")
		case v.Type().Elem().Kind() == reflect.Uint8:
			fmt.Fprintf(b, "0x%x", v.Bytes())
		default:
			b.WriteString("[")
			for i := range v.Len() {
				if i > 0 {
					b.WriteString(", ")
				}
				dumpValue(b, v.Index(i))
			}
			b.WriteString("]")
		}
	case reflect.Map:
		if v.IsNil() {
			b.WriteString("nil")
			return
		}
		keys := v.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i]) < fmt.Sprint(keys[j]) })
		b.WriteString("map[")
		for i, k := range keys {
			if i > 0 {
				b.WriteString(" ")
			}
			fmt.Fprintf(b, "%v:", k)
			dumpValue(b, v.MapIndex(k))
		}
		b.WriteString("]")
	default:
		fmt.Fprintf(b, "%#v", v.Interface())
	}
}

// ---- domains

func testDomains(t *testing.T, s store.Store) {
	ctx := t.Context()
	got, err := s.ListDomains(ctx)
	must(t, "ListDomains on an empty store", err)
	check(t, "ListDomains on an empty store", len(got), 0)

	beta := newDomain("dom-b", "beta")
	alpha := newDomain("dom-a", "alpha")
	alpha.Policy = watchword.SecretPolicy{
		Expiry: watchword.Expiry{Unit: watchword.ExpiryDays, Duration: 90}, MaxSecrets: 3,
		DefaultTransition: watchword.Duration(2 * time.Hour), MaxTransition: watchword.Duration(48 * time.Hour),
		AllowCustom: false, MinCustomLength: 40,
	}
	alpha.OAuth = watchword.DomainOAuth{
		AccessTokenLifetime: watchword.Duration(90 * time.Second), IDTokenLifetime: watchword.Duration(1500 * time.Millisecond),
		RefreshTokenLifetime: watchword.Duration(36 * time.Hour), CodeLifetime: watchword.Duration(30 * time.Second),
		RequirePKCE: false, RequireState: true, AccessTokenAlg: watchword.AlgES256,
	}
	seed(t, s, func(tx store.Tx) error {
		if err := tx.CreateDomain(ctx, beta); err != nil {
			return err
		}
		return tx.CreateDomain(ctx, alpha)
	})

	d, err := s.GetDomain(ctx, "dom-a")
	must(t, "GetDomain", err)
	check(t, "GetDomain", d, wantDomain(alpha))
	d, err = s.GetDomainByName(ctx, "beta")
	must(t, "GetDomainByName", err)
	check(t, "GetDomainByName", d, wantDomain(beta))
	ds, err := s.ListDomains(ctx)
	must(t, "ListDomains", err)
	check(t, "ListDomains (ordered by name)", ds, []watchword.Domain{wantDomain(alpha), wantDomain(beta)})

	_, err = s.GetDomain(ctx, "dom-x")
	checkErr(t, "GetDomain(missing)", err, store.ErrNotFound)
	_, err = s.GetDomainByName(ctx, "gamma")
	checkErr(t, "GetDomainByName(missing)", err, store.ErrNotFound)

	for _, tc := range []struct {
		name string
		d    watchword.Domain
	}{
		{"same name", newDomain("dom-c", "alpha")},
		{"same id", newDomain("dom-a", "gamma")},
	} {
		err := s.Tx(ctx, func(tx store.Tx) error { return tx.CreateDomain(ctx, tc.d) })
		checkErr(t, "CreateDomain("+tc.name+")", err, store.ErrAlreadyExists)
	}

	upd := beta
	upd.Name, upd.Description, upd.UpdatedAt = "beta2", "renamed", at(time.Hour)
	upd.Policy.MaxSecrets = 7
	upd.OAuth = watchword.DomainOAuth{} // zero settings round-trip too
	seed(t, s, func(tx store.Tx) error { return tx.UpdateDomain(ctx, upd) })
	d, err = s.GetDomain(ctx, "dom-b")
	must(t, "GetDomain after update", err)
	check(t, "GetDomain after update", d, wantDomain(upd))

	err = s.Tx(ctx, func(tx store.Tx) error { return tx.UpdateDomain(ctx, newDomain("dom-x", "x")) })
	checkErr(t, "UpdateDomain(missing)", err, store.ErrNotFound)
	upd.Name = "alpha"
	err = s.Tx(ctx, func(tx store.Tx) error { return tx.UpdateDomain(ctx, upd) })
	checkErr(t, "UpdateDomain(taken name)", err, store.ErrAlreadyExists)
}

// ---- clients

func testClients(t *testing.T, s store.Store) {
	ctx := t.Context()
	d1, d2 := newDomain("dom-1", "one"), newDomain("dom-2", "two")
	c := newClient("cli-1", "dom-1", "app")
	seedDomainClient(t, s, d1, c)
	seedDomainClient(t, s, d2)

	got, err := s.GetClient(ctx, "dom-1", "cli-1")
	must(t, "GetClient", err)
	check(t, "GetClient", got, wantClient(c))
	got, err = s.GetClientByName(ctx, "dom-1", "app")
	must(t, "GetClientByName", err)
	check(t, "GetClientByName", got, wantClient(c))

	for _, tc := range []struct{ name, domainID, id string }{
		{"unknown id", "dom-1", "cli-x"},
		{"other domain", "dom-2", "cli-1"},
	} {
		_, err := s.GetClient(ctx, tc.domainID, tc.id)
		checkErr(t, "GetClient("+tc.name+")", err, store.ErrNotFound)
	}
	_, err = s.GetClientByName(ctx, "dom-2", "app")
	checkErr(t, "GetClientByName(other domain)", err, store.ErrNotFound)

	for _, tc := range []struct {
		name string
		c    watchword.Client
	}{
		{"same name", newClient("cli-2", "dom-1", "app")},
		{"same id", newClient("cli-1", "dom-2", "other")},
	} {
		err := s.Tx(ctx, func(tx store.Tx) error { return tx.CreateClient(ctx, tc.c) })
		checkErr(t, "CreateClient("+tc.name+")", err, store.ErrAlreadyExists)
	}
	// Names are unique per domain only.
	c2 := newClient("cli-2", "dom-2", "app")
	seed(t, s, func(tx store.Tx) error { return tx.CreateClient(ctx, c2) })

	err = s.Tx(ctx, func(tx store.Tx) error { return tx.CreateClient(ctx, newClient("cli-3", "dom-x", "app")) })
	if err == nil {
		t.Errorf("CreateClient(unknown domain): got no error, want a foreign key violation")
	}

	upd := c
	upd.Name, upd.Description, upd.Type = "app2", "", watchword.ClientPublic
	upd.GrantTypes, upd.RedirectURIs, upd.Scopes = []string{watchword.GrantAuthorizationCode}, nil, []string{}
	upd.Disabled, upd.UpdatedAt = true, at(time.Minute)
	upd.Policy = ptr(watchword.DefaultSecretPolicy())
	upd.Policy.MaxSecrets = 2
	upd.OAuth = watchword.ClientOAuth{
		TokenEndpointAuthMethod: watchword.AuthMethodNone, FirstParty: true,
		RequirePKCE: ptr(false), AllowPlainPKCE: true, // a set false differs from nil
		AccessTokenLifetime: ptr(watchword.Duration(5 * time.Minute)), RefreshTokenLifetime: ptr(watchword.Duration(0)),
		RefreshReuseWindow: watchword.Duration(2 * time.Second),
	}
	seed(t, s, func(tx store.Tx) error { return tx.UpdateClient(ctx, upd) })
	got, err = s.GetClient(ctx, "dom-1", "cli-1")
	must(t, "GetClient after update", err)
	check(t, "GetClient after update", got, wantClient(upd))

	err = s.Tx(ctx, func(tx store.Tx) error { return tx.UpdateClient(ctx, newClient("cli-x", "dom-1", "zz")) })
	checkErr(t, "UpdateClient(missing)", err, store.ErrNotFound)
	seed(t, s, func(tx store.Tx) error { return tx.CreateClient(ctx, newClient("cli-4", "dom-2", "taken")) })
	taken := c2
	taken.Name = "taken"
	err = s.Tx(ctx, func(tx store.Tx) error { return tx.UpdateClient(ctx, taken) })
	checkErr(t, "UpdateClient(taken name)", err, store.ErrAlreadyExists)

	// Soft delete: the client disappears from every read, and cannot be
	// updated any more.
	del := upd
	del.DeletedAt = ptr(at(2 * time.Minute))
	seed(t, s, func(tx store.Tx) error { return tx.UpdateClient(ctx, del) })
	_, err = s.GetClient(ctx, "dom-1", "cli-1")
	checkErr(t, "GetClient(deleted)", err, store.ErrNotFound)
	_, err = s.GetClientByName(ctx, "dom-1", "app2")
	checkErr(t, "GetClientByName(deleted)", err, store.ErrNotFound)
	err = s.Tx(ctx, func(tx store.Tx) error { return tx.UpdateClient(ctx, del) })
	checkErr(t, "UpdateClient(deleted)", err, store.ErrNotFound)
}

// testClientLists checks that nil and empty lists and policies round-trip
// as written.
func testClientLists(t *testing.T, s store.Store) {
	ctx := t.Context()
	seedDomainClient(t, s, newDomain("dom-1", "one"))
	for i, tc := range []struct {
		name   string
		lists  []string
		policy *watchword.SecretPolicy
	}{
		{"nil", nil, nil},
		{"empty", []string{}, nil},
		{"values", []string{"a", "b c", `q"uote`, "ünï"}, ptr(watchword.DefaultSecretPolicy())},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(fmt.Sprintf("cli-%d", i), "dom-1", fmt.Sprintf("app-%d", i))
			c.GrantTypes, c.RedirectURIs, c.Scopes, c.Policy = tc.lists, tc.lists, tc.lists, tc.policy
			seed(t, s, func(tx store.Tx) error { return tx.CreateClient(ctx, c) })
			got, err := s.GetClient(ctx, "dom-1", c.ID)
			must(t, "GetClient", err)
			check(t, "GetClient", got, wantClient(c))
		})
	}
}

func testClientNameReuse(t *testing.T, s store.Store) {
	ctx := t.Context()
	seedDomainClient(t, s, newDomain("dom-1", "one"))
	// Deleted twice, so that two deleted clients share a name too.
	for i := range 3 {
		c := newClient(fmt.Sprintf("cli-%d", i), "dom-1", "app")
		sec := newSecret(fmt.Sprintf("sec-%d", i), c.ID, t0)
		seed(t, s, func(tx store.Tx) error {
			if err := tx.CreateClient(ctx, c); err != nil {
				return err
			}
			return tx.CreateSecret(ctx, sec)
		})
		got, err := s.GetClientByName(ctx, "dom-1", "app")
		must(t, "GetClientByName", err)
		check(t, "GetClientByName", got.ID, c.ID)
		if i == 2 {
			break
		}
		c.DeletedAt = ptr(at(time.Duration(i) * time.Minute))
		seed(t, s, func(tx store.Tx) error { return tx.UpdateClient(ctx, c) })
	}
	// History of deleted clients stays.
	sec, err := s.GetSecret(ctx, "sec-0")
	must(t, "GetSecret of a deleted client", err)
	check(t, "GetSecret of a deleted client", sec.ClientID, "cli-0")
}

func testListClients(t *testing.T, s store.Store) {
	ctx := t.Context()
	var cs []watchword.Client
	for _, name := range []string{"app-03", "app-00", "svc_a", "app-02", "svcxa", "app-01"} {
		cs = append(cs, newClient("cli-"+name, "dom-1", name))
	}
	off := newClient("cli-off", "dom-1", "off")
	off.Disabled = true
	gone := newClient("cli-gone", "dom-1", "app-gone")
	gone.DeletedAt = ptr(t0)
	seedDomainClient(t, s, newDomain("dom-1", "one"), append(cs, off, gone)...)
	seedDomainClient(t, s, newDomain("dom-2", "two"), newClient("cli-x", "dom-2", "app-x"))

	for _, tc := range []struct {
		name      string
		f         watchword.ClientFilter
		wantNames []string
		wantTotal int
	}{
		{"domain", watchword.ClientFilter{DomainID: "dom-1"},
			[]string{"app-00", "app-01", "app-02", "app-03", "off", "svc_a", "svcxa"}, 7},
		{"every domain", watchword.ClientFilter{},
			[]string{"app-00", "app-01", "app-02", "app-03", "app-x", "off", "svc_a", "svcxa"}, 8},
		{"page", watchword.ClientFilter{DomainID: "dom-1", Offset: 2, Limit: 3},
			[]string{"app-02", "app-03", "off"}, 7},
		{"negative offset", watchword.ClientFilter{DomainID: "dom-1", Offset: -5, Limit: 1},
			[]string{"app-00"}, 7},
		{"past the end", watchword.ClientFilter{DomainID: "dom-1", Offset: 7},
			[]string{}, 7},
		{"name contains, any case", watchword.ClientFilter{DomainID: "dom-1", NameContains: "PP-0"},
			[]string{"app-00", "app-01", "app-02", "app-03"}, 4},
		{"LIKE wildcards are literal", watchword.ClientFilter{DomainID: "dom-1", NameContains: "_"},
			[]string{"svc_a"}, 1},
		{"percent is literal", watchword.ClientFilter{DomainID: "dom-1", NameContains: "%"},
			[]string{}, 0},
		{"disabled", watchword.ClientFilter{DomainID: "dom-1", Disabled: ptr(true)},
			[]string{"off"}, 1},
		{"enabled, paged", watchword.ClientFilter{DomainID: "dom-1", Disabled: ptr(false), Limit: 2},
			[]string{"app-00", "app-01"}, 6},
		{"no match", watchword.ClientFilter{DomainID: "dom-3"}, []string{}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, total, err := s.ListClients(ctx, tc.f)
			must(t, "ListClients", err)
			names := []string{}
			for _, c := range got {
				names = append(names, c.Name)
			}
			check(t, "names", names, tc.wantNames)
			check(t, "total", total, tc.wantTotal)
		})
	}
	got, _, err := s.ListClients(ctx, watchword.ClientFilter{DomainID: "dom-1", Disabled: ptr(true)})
	must(t, "ListClients", err)
	check(t, "ListClients returns whole clients", got, []watchword.Client{wantClient(off)})
}

func testLockClient(t *testing.T, s store.Store) {
	ctx := t.Context()
	c := newClient("cli-1", "dom-1", "app")
	gone := newClient("cli-2", "dom-1", "gone")
	gone.DeletedAt = ptr(t0)
	seedDomainClient(t, s, newDomain("dom-1", "one"), c, gone)
	seed(t, s, func(tx store.Tx) error {
		got, err := tx.LockClient(ctx, "dom-1", "cli-1")
		must(t, "LockClient", err)
		check(t, "LockClient", got, wantClient(c))
		for _, tc := range []struct{ name, domainID, id string }{
			{"missing", "dom-1", "cli-x"},
			{"other domain", "dom-2", "cli-1"},
			{"deleted", "dom-1", "cli-2"},
		} {
			_, err := tx.LockClient(ctx, tc.domainID, tc.id)
			checkErr(t, "LockClient("+tc.name+")", err, store.ErrNotFound)
		}
		return nil
	})
}

// ---- secrets

func testSecrets(t *testing.T, s store.Store) {
	ctx := t.Context()
	seedDomainClient(t, s, newDomain("dom-1", "one"), newClient("cli-1", "dom-1", "app"), newClient("cli-2", "dom-1", "other"))

	// Written out of order: lists are ordered by creation, then id.
	bare := newSecret("sec-b", "cli-1", at(time.Second))
	full := newSecret("sec-a", "cli-1", at(time.Second))
	full.Source, full.Description, full.CreatedBy = watchword.SourceCustom, "", ""
	full.ExpiresAt = ptr(at(90 * 24 * time.Hour))
	full.RetiringSince = ptr(at(time.Hour).In(time.FixedZone("", -3*3600)))
	full.RevokedAt, full.RevokedBy, full.RevokedReason = ptr(at(2*time.Hour)), "token:x", "leaked"
	full.LastUsedAt, full.UseCount = ptr(at(3*time.Hour)), 1<<40
	full.Status = watchword.StatusActive // must not be stored
	oldest := newSecret("sec-z", "cli-1", t0)
	other := newSecret("sec-o", "cli-2", t0)
	seed(t, s, func(tx store.Tx) error {
		for _, sec := range []watchword.Secret{bare, full, oldest, other} {
			if err := tx.CreateSecret(ctx, sec); err != nil {
				return err
			}
		}
		return nil
	})

	for _, sec := range []watchword.Secret{bare, full} {
		got, err := s.GetSecret(ctx, sec.ID)
		must(t, "GetSecret", err)
		check(t, "GetSecret("+sec.ID+")", got, wantSecret(sec))
	}
	list, err := s.ListSecrets(ctx, "cli-1")
	must(t, "ListSecrets", err)
	check(t, "ListSecrets (oldest first)", list, []watchword.Secret{wantSecret(oldest), wantSecret(full), wantSecret(bare)})
	list, err = s.ListSecrets(ctx, "cli-x")
	must(t, "ListSecrets(unknown client)", err)
	check(t, "ListSecrets(unknown client)", len(list), 0)

	_, err = s.GetSecret(ctx, "sec-x")
	checkErr(t, "GetSecret(missing)", err, store.ErrNotFound)
	err = s.Tx(ctx, func(tx store.Tx) error { return tx.CreateSecret(ctx, newSecret("sec-a", "cli-2", t0)) })
	checkErr(t, "CreateSecret(same id)", err, store.ErrAlreadyExists)
	err = s.Tx(ctx, func(tx store.Tx) error { return tx.CreateSecret(ctx, newSecret("sec-n", "cli-x", t0)) })
	if err == nil {
		t.Errorf("CreateSecret(unknown client): got no error, want a foreign key violation")
	}

	// Update every mutable field, set ones to nil and nil ones to set.
	upd := full
	upd.Description, upd.Hint, upd.Hash, upd.KeyID = "renewed", "zz99", []byte{9, 9}, "k2"
	upd.ExpiresAt, upd.RetiringSince, upd.RevokedAt, upd.RevokedBy, upd.RevokedReason = nil, nil, nil, "", ""
	upd.LastUsedAt, upd.UseCount = ptr(at(4*time.Hour)), 7
	upd2 := bare
	upd2.ExpiresAt, upd2.RetiringSince = ptr(at(time.Hour)), ptr(at(time.Minute))
	upd2 = upd2.Revoke(at(5*time.Minute), "system", "rotation")
	seed(t, s, func(tx store.Tx) error {
		if err := tx.UpdateSecret(ctx, upd); err != nil {
			return err
		}
		return tx.UpdateSecret(ctx, upd2)
	})
	for _, sec := range []watchword.Secret{upd, upd2} {
		got, err := s.GetSecret(ctx, sec.ID)
		must(t, "GetSecret after update", err)
		check(t, "GetSecret("+sec.ID+") after update", got, wantSecret(sec))
	}
	err = s.Tx(ctx, func(tx store.Tx) error { return tx.UpdateSecret(ctx, newSecret("sec-x", "cli-1", t0)) })
	checkErr(t, "UpdateSecret(missing)", err, store.ErrNotFound)

	// A deleted secret leaves the list but stays readable as a tombstone.
	del := oldest
	del.DeletedAt = ptr(at(time.Minute))
	seed(t, s, func(tx store.Tx) error { return tx.UpdateSecret(ctx, del) })
	list, err = s.ListSecrets(ctx, "cli-1")
	must(t, "ListSecrets after delete", err)
	check(t, "ListSecrets after delete", list, []watchword.Secret{wantSecret(upd), wantSecret(upd2)})
	got, err := s.GetSecret(ctx, "sec-z")
	must(t, "GetSecret(deleted)", err)
	check(t, "GetSecret(deleted)", got, wantSecret(del))
}

// ---- rotations

func testRotations(t *testing.T, s store.Store) {
	ctx := t.Context()
	seedDomainClient(t, s, newDomain("dom-1", "one"), newClient("cli-1", "dom-1", "app"), newClient("cli-2", "dom-1", "other"))

	var rots []watchword.Rotation // oldest first
	for i := range 6 {
		r := watchword.Rotation{
			ID: fmt.Sprintf("rot-%d", i), ClientID: "cli-1", At: at(time.Duration(i) * time.Minute),
			InitiatedBy: "token:t1 (ci)", Kind: "rotate", NewSecretID: fmt.Sprintf("sec-%d", i), NewSecretHint: "ab12",
			Transition: watchword.Duration(time.Duration(i) * time.Hour),
		}
		switch i {
		case 1:
			r.Old, r.Kind = []watchword.RotatedSecret{}, "renew"
		case 2:
			r.Old = []watchword.RotatedSecret{
				{ID: "sec-old1", Hint: "aaaa", ExpiresAt: ptr(at(24 * time.Hour))},
				{ID: "sec-old2", Hint: "bbbb"},
			}
		case 5:
			r.At = rots[4].At // same time: ordered by id
		}
		rots = append(rots, r)
	}
	otherRot := watchword.Rotation{ID: "rot-x", ClientID: "cli-2", At: t0, Kind: "rotate"}
	seed(t, s, func(tx store.Tx) error {
		for _, r := range append(rots, otherRot) {
			if err := tx.CreateRotation(ctx, r); err != nil {
				return err
			}
		}
		return nil
	})
	want := func(idx ...int) []watchword.Rotation {
		out := []watchword.Rotation{}
		for _, i := range idx {
			out = append(out, wantRotation(rots[i]))
		}
		return out
	}
	for _, tc := range []struct {
		name          string
		clientID      string
		offset, limit int
		want          []watchword.Rotation
		wantTotal     int
	}{
		{"all, newest first", "cli-1", 0, 0, want(5, 4, 3, 2, 1, 0), 6},
		{"page", "cli-1", 1, 2, want(4, 3), 6},
		{"past the end", "cli-1", 6, 10, want(), 6},
		{"other client", "cli-2", 0, 10, []watchword.Rotation{wantRotation(otherRot)}, 1},
		{"unknown client", "cli-x", 0, 10, want(), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, total, err := s.ListRotations(ctx, tc.clientID, tc.offset, tc.limit)
			must(t, "ListRotations", err)
			check(t, "rotations", got, tc.want)
			check(t, "total", total, tc.wantTotal)
		})
	}
	err := s.Tx(ctx, func(tx store.Tx) error { return tx.CreateRotation(ctx, rots[0]) })
	checkErr(t, "CreateRotation(same id)", err, store.ErrAlreadyExists)
}

// ---- audit

func testAudit(t *testing.T, s store.Store) {
	ctx := t.Context()
	ev := func(d time.Duration, action, domainID, targetID string) watchword.AuditEvent {
		return watchword.AuditEvent{
			Time: at(d), Actor: "token:t1 (ci)", Action: action, DomainID: domainID, TargetType: "client",
			TargetID: targetID, Outcome: watchword.OutcomeSuccess, RequestID: "req-" + action,
		}
	}
	events := []watchword.AuditEvent{ // in append order
		ev(0, watchword.ActionClientCreate, "dom-1", "cli-1"),
		ev(time.Minute, watchword.ActionSecretAdd, "dom-1", "cli-1"),
		ev(2*time.Minute, watchword.ActionClientCreate, "dom-2", "cli-2"),
		ev(3*time.Minute, watchword.ActionDenied, "", ""),
		ev(4*time.Minute, watchword.ActionSecretAdd, "dom-1", "sec-1"),
		// Appended last with the oldest time: still the newest event.
		ev(-time.Hour, watchword.ActionClientUpdate, "dom-1", "cli-1"),
	}
	events[1].Details = map[string]string{}
	events[2].Details = map[string]string{"name": "app", "note": `quoted "x"`}
	events[3].Outcome, events[3].TargetType = watchword.OutcomeDenied, ""

	got, total, err := s.ListAuditEvents(ctx, watchword.AuditFilter{})
	must(t, "ListAuditEvents on an empty store", err)
	check(t, "ListAuditEvents on an empty store", [2]int{len(got), total}, [2]int{0, 0})

	for _, e := range events { // one Tx each, as the service does
		seed(t, s, func(tx store.Tx) error { return tx.AppendAudit(ctx, e) })
	}
	all, _, err := s.ListAuditEvents(ctx, watchword.AuditFilter{})
	must(t, "ListAuditEvents", err)
	if len(all) != len(events) {
		t.Fatalf("ListAuditEvents: got %d events, want %d", len(all), len(events))
	}
	// The store assigns ids, increasing in append order.
	ids := make([]int64, len(events))
	for i := range events {
		ids[i] = all[len(all)-1-i].ID
		events[i].ID = ids[i]
	}
	for i, id := range ids {
		if id <= 0 || i > 0 && id <= ids[i-1] {
			t.Fatalf("audit ids in append order = %v, want positive and increasing", ids)
		}
	}
	want := func(idx ...int) []watchword.AuditEvent {
		out := []watchword.AuditEvent{}
		for _, i := range idx {
			out = append(out, wantAudit(events[i]))
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		f         watchword.AuditFilter
		want      []watchword.AuditEvent
		wantTotal int
	}{
		{"all, newest first", watchword.AuditFilter{}, want(5, 4, 3, 2, 1, 0), 6},
		{"domain", watchword.AuditFilter{DomainID: "dom-1"}, want(5, 4, 1, 0), 4},
		{"target", watchword.AuditFilter{TargetID: "cli-1"}, want(5, 1, 0), 3},
		{"action", watchword.AuditFilter{Action: watchword.ActionClientCreate}, want(2, 0), 2},
		// Since is inclusive, compared at the store's precision.
		{"since", watchword.AuditFilter{Since: ptr(at(2 * time.Minute))}, want(4, 3, 2), 3},
		{"domain and action", watchword.AuditFilter{DomainID: "dom-1", Action: watchword.ActionSecretAdd}, want(4, 1), 2},
		{"page", watchword.AuditFilter{Offset: 1, Limit: 2}, want(4, 3), 6},
		{"filtered page", watchword.AuditFilter{DomainID: "dom-1", Offset: 3, Limit: 2}, want(0), 4},
		{"past the end", watchword.AuditFilter{Offset: 10}, want(), 6},
		{"no match", watchword.AuditFilter{Action: "nope"}, want(), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, total, err := s.ListAuditEvents(ctx, tc.f)
			must(t, "ListAuditEvents", err)
			check(t, "events", got, tc.want)
			check(t, "total", total, tc.wantTotal)
		})
	}
}

// ---- admin tokens

func testAdminTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	tok1 := newToken("tok-1", at(time.Hour))
	tok2 := newToken("tok-2", t0) // older, written second
	tok2.Role, tok2.CreatedBy = watchword.RoleViewer, ""
	seed(t, s, func(tx store.Tx) error {
		if err := tx.CreateAdminToken(ctx, tok1); err != nil {
			return err
		}
		return tx.CreateAdminToken(ctx, tok2)
	})
	got, err := s.GetAdminToken(ctx, "tok-2")
	must(t, "GetAdminToken", err)
	check(t, "GetAdminToken", got, wantToken(tok2))
	_, err = s.GetAdminToken(ctx, "tok-x")
	checkErr(t, "GetAdminToken(missing)", err, store.ErrNotFound)
	err = s.Tx(ctx, func(tx store.Tx) error { return tx.CreateAdminToken(ctx, newToken("tok-1", t0)) })
	checkErr(t, "CreateAdminToken(same id)", err, store.ErrAlreadyExists)

	rev := tok1
	rev.RevokedAt, rev.RevokedBy, rev.Name = ptr(at(2*time.Hour)), "token:tok-2", "renamed"
	seed(t, s, func(tx store.Tx) error { return tx.UpdateAdminToken(ctx, rev) })
	err = s.Tx(ctx, func(tx store.Tx) error { return tx.UpdateAdminToken(ctx, newToken("tok-x", t0)) })
	checkErr(t, "UpdateAdminToken(missing)", err, store.ErrNotFound)

	list, err := s.ListAdminTokens(ctx)
	must(t, "ListAdminTokens", err)
	check(t, "ListAdminTokens (oldest first, revoked included)", list, []watchword.AdminToken{wantToken(tok2), wantToken(rev)})
}

// ---- times

func testTimes(t *testing.T, s store.Store) {
	ctx := t.Context()
	seedDomainClient(t, s, newDomain("dom-1", "one"), newClient("cli-1", "dom-1", "app"))
	for i, tc := range []struct {
		name string
		in   time.Time
	}{
		{"nanoseconds, +05:30", t0},
		{"west of UTC", time.Date(2025, 12, 31, 23, 59, 59, 999999999, time.FixedZone("", -9*3600-30*60))},
		{"UTC microseconds", time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC)},
		{"before 1970", time.Date(1969, 7, 20, 20, 17, 40, 123456789, ist)},
		{"far future", time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)},
		{"zero", time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sec := newSecret(fmt.Sprintf("sec-%d", i), "cli-1", tc.in)
			sec.ExpiresAt, sec.LastUsedAt = ptr(tc.in), ptr(tc.in)
			seed(t, s, func(tx store.Tx) error { return tx.CreateSecret(ctx, sec) })
			got, err := s.GetSecret(ctx, sec.ID)
			must(t, "GetSecret", err)
			want := store.Truncate(tc.in)
			for _, f := range []struct {
				name string
				got  time.Time
			}{{"CreatedAt", got.CreatedAt}, {"*ExpiresAt", *got.ExpiresAt}, {"*LastUsedAt", *got.LastUsedAt}} {
				if !f.got.Equal(want) || f.got.Location() != time.UTC {
					t.Errorf("%s = %s, want %s (UTC)", f.name, dump(f.got), dump(want))
				}
			}
			check(t, "secret", got, wantSecret(sec))
		})
	}
}

// ---- transactions

var errBoom = errors.New("boom")

func testTxRollback(t *testing.T, s store.Store) {
	ctx := t.Context()
	calls := 0
	err := s.Tx(ctx, func(tx store.Tx) error {
		calls++
		must(t, "CreateDomain", tx.CreateDomain(ctx, newDomain("dom-1", "one")))
		must(t, "CreateClient", tx.CreateClient(ctx, newClient("cli-1", "dom-1", "app")))
		must(t, "CreateSecret", tx.CreateSecret(ctx, newSecret("sec-1", "cli-1", t0)))
		must(t, "CreateRotation", tx.CreateRotation(ctx, watchword.Rotation{ID: "rot-1", ClientID: "cli-1", At: t0, Kind: "rotate"}))
		must(t, "AppendAudit", tx.AppendAudit(ctx, watchword.AuditEvent{Time: t0, Actor: "system", Action: "x", Outcome: "success"}))
		must(t, "CreateAdminToken", tx.CreateAdminToken(ctx, newToken("tok-1", t0)))
		// A Tx reads its own writes.
		if _, err := tx.GetSecret(ctx, "sec-1"); err != nil {
			t.Errorf("GetSecret inside the Tx: %v", err)
		}
		if _, n, err := tx.ListAuditEvents(ctx, watchword.AuditFilter{}); err != nil || n != 1 {
			t.Errorf("ListAuditEvents inside the Tx = %d, %v; want 1, nil", n, err)
		}
		return fmt.Errorf("wrapped: %w", errBoom)
	})
	checkErr(t, "Tx", err, errBoom)
	check(t, "calls of fn after a plain error", calls, 1)
	checkEmpty(t, s)

	// Sentinels from fn come back as they are.
	err = s.Tx(ctx, func(tx store.Tx) error { return store.ErrNotFound })
	checkErr(t, "Tx returning ErrNotFound", err, store.ErrNotFound)
}

// checkEmpty fails unless nothing at all is stored.
func checkEmpty(t *testing.T, s store.Store) {
	t.Helper()
	ctx := t.Context()
	_, err := s.GetDomain(ctx, "dom-1")
	checkErr(t, "GetDomain after rollback", err, store.ErrNotFound)
	ds, err := s.ListDomains(ctx)
	must(t, "ListDomains", err)
	cs, nc, err := s.ListClients(ctx, watchword.ClientFilter{})
	must(t, "ListClients", err)
	_, err = s.GetSecret(ctx, "sec-1")
	checkErr(t, "GetSecret after rollback", err, store.ErrNotFound)
	_, nr, err := s.ListRotations(ctx, "cli-1", 0, 0)
	must(t, "ListRotations", err)
	_, na, err := s.ListAuditEvents(ctx, watchword.AuditFilter{})
	must(t, "ListAuditEvents", err)
	toks, err := s.ListAdminTokens(ctx)
	must(t, "ListAdminTokens", err)
	check(t, "rows after rollback (domains, clients, rotations, audit, tokens)",
		[]int{len(ds), len(cs) + nc, nr, na, len(toks)}, []int{0, 0, 0, 0, 0})
}

func testTxPanic(t *testing.T, s store.Store) {
	ctx := t.Context()
	func() {
		defer func() {
			if r := recover(); r != errBoom {
				t.Errorf("recovered %v, want the panic of fn (%v)", r, errBoom)
			}
		}()
		_ = s.Tx(ctx, func(tx store.Tx) error {
			must(t, "CreateDomain", tx.CreateDomain(ctx, newDomain("dom-1", "one")))
			panic(errBoom)
		})
	}()
	checkEmpty(t, s)
	// The connection went back to the pool: the store still works.
	seedDomainClient(t, s, newDomain("dom-1", "one"))
}

func testTxNow(t *testing.T, s store.Store) {
	seed(t, s, func(tx store.Tx) error {
		now := tx.Now()
		if now.IsZero() || now.Location() != time.UTC || !now.Equal(store.Truncate(now)) {
			t.Errorf("Now() = %s, want a UTC time truncated to microseconds", dump(now))
		}
		time.Sleep(2 * time.Millisecond)
		if again := tx.Now(); !again.Equal(now) {
			t.Errorf("Now() changed within one Tx: %s, then %s", dump(now), dump(again))
		}
		return nil
	})
}

// testTxUsableAfterError: a failed write returns its sentinel and leaves the
// Tx usable (PostgreSQL would abort the whole transaction without care).
func testTxUsableAfterError(t *testing.T, s store.Store) {
	ctx := t.Context()
	seedDomainClient(t, s, newDomain("dom-1", "one"), newClient("cli-1", "dom-1", "app"), newClient("cli-2", "dom-1", "other"))
	seed(t, s, func(tx store.Tx) error {
		checkErr(t, "CreateDomain(taken)", tx.CreateDomain(ctx, newDomain("dom-2", "one")), store.ErrAlreadyExists)
		checkErr(t, "CreateClient(taken)", tx.CreateClient(ctx, newClient("cli-3", "dom-1", "app")), store.ErrAlreadyExists)
		checkErr(t, "UpdateClient(taken)", tx.UpdateClient(ctx, newClient("cli-2", "dom-1", "app")), store.ErrAlreadyExists)
		checkErr(t, "CreateSecret(twice)", func() error {
			must(t, "CreateSecret", tx.CreateSecret(ctx, newSecret("sec-1", "cli-1", t0)))
			return tx.CreateSecret(ctx, newSecret("sec-1", "cli-1", t0))
		}(), store.ErrAlreadyExists)
		checkErr(t, "UpdateDomain(missing)", tx.UpdateDomain(ctx, newDomain("dom-x", "x")), store.ErrNotFound)
		_, err := tx.GetClient(ctx, "dom-1", "cli-x")
		checkErr(t, "GetClient(missing)", err, store.ErrNotFound)
		return tx.CreateDomain(ctx, newDomain("dom-2", "two"))
	})
	for _, name := range []string{"one", "two"} {
		_, err := s.GetDomainByName(ctx, name)
		must(t, "GetDomainByName("+name+") after commit", err)
	}
	_, err := s.GetSecret(ctx, "sec-1")
	must(t, "GetSecret after commit", err)
}

// RunConcurrencyTest checks that LockClient serialises read-check-write
// transactions: 8 goroutines, spread over stores (several instances on one
// database), each run 10 transactions that lock the same client, count its
// secrets and create one more whose id is that count. A lost update would
// show as a duplicate id, and as fewer secrets than successful transactions.
// Every transaction must succeed.
func RunConcurrencyTest(t *testing.T, stores ...store.Store) {
	const workers, iterations = 8, 10
	ctx := t.Context()
	seedDomainClient(t, stores[0], newDomain("dom-1", "one"), newClient("cli-1", "dom-1", "app"))

	var ok atomic.Int64
	errs := make(chan error, workers*iterations)
	var wg sync.WaitGroup
	for w := range workers {
		s := stores[w%len(stores)]
		wg.Go(func() {
			for range iterations {
				err := s.Tx(ctx, func(tx store.Tx) error {
					c, err := tx.LockClient(ctx, "dom-1", "cli-1")
					if err != nil {
						return fmt.Errorf("LockClient: %w", err)
					}
					secrets, err := tx.ListSecrets(ctx, c.ID)
					if err != nil {
						return fmt.Errorf("ListSecrets: %w", err)
					}
					sec := newSecret(fmt.Sprintf("sec-%03d", len(secrets)), c.ID, tx.Now())
					if err := tx.CreateSecret(ctx, sec); err != nil {
						return fmt.Errorf("CreateSecret(%s): %w", sec.ID, err)
					}
					return nil
				})
				if err != nil {
					errs <- err
					continue
				}
				ok.Add(1)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Tx: %v", err)
	}
	secrets, err := stores[0].ListSecrets(ctx, "cli-1")
	must(t, "ListSecrets", err)
	ids := make([]string, len(secrets))
	for i, sec := range secrets {
		ids[i] = sec.ID
	}
	slices.Sort(ids)
	var want []string
	for i := range int(ok.Load()) {
		want = append(want, fmt.Sprintf("sec-%03d", i))
	}
	check(t, fmt.Sprintf("secrets after %d successful transactions", ok.Load()), ids, want)
	if ok.Load() != workers*iterations {
		t.Errorf("%d of %d transactions succeeded", ok.Load(), workers*iterations)
	}
}

// testOppositeLockOrder runs two transactions that lock two clients in
// opposite orders, meeting in the middle when the database lets them (on
// PostgreSQL: a deadlock, which Tx must resolve by running the loser
// again). Both must succeed.
func testOppositeLockOrder(t *testing.T, s store.Store) {
	ctx := t.Context()
	seedDomainClient(t, s, newDomain("dom-1", "one"), newClient("cli-1", "dom-1", "a"), newClient("cli-2", "dom-1", "b"))
	var arrived sync.WaitGroup
	arrived.Add(2)
	allArrived := make(chan struct{})
	go func() { arrived.Wait(); close(allArrived) }()

	var calls atomic.Int64
	run := func(first, second, secretID string) error {
		firstAttempt := true
		return s.Tx(ctx, func(tx store.Tx) error {
			calls.Add(1)
			if _, err := tx.LockClient(ctx, "dom-1", first); err != nil {
				return err
			}
			if firstAttempt {
				firstAttempt = false
				arrived.Done()
				// A backend whose writers exclude each other (SQLite) never
				// lets the other arrive: go on after a while.
				select {
				case <-allArrived:
				case <-time.After(time.Second):
				}
			}
			if _, err := tx.LockClient(ctx, "dom-1", second); err != nil {
				return err
			}
			return tx.CreateSecret(ctx, newSecret(secretID, second, tx.Now()))
		})
	}
	var wg sync.WaitGroup
	var err1, err2 error
	wg.Go(func() { err1 = run("cli-1", "cli-2", "sec-1") })
	wg.Go(func() { err2 = run("cli-2", "cli-1", "sec-2") })
	wg.Wait()
	if err1 != nil || err2 != nil {
		t.Errorf("Tx errors = %v, %v; want both nil", err1, err2)
	}
	t.Logf("fn ran %d times for 2 transactions", calls.Load())
	for _, id := range []string{"sec-1", "sec-2"} {
		_, err := s.GetSecret(ctx, id)
		must(t, "GetSecret("+id+")", err)
	}
}
