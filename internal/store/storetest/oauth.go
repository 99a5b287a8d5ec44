package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/store"
)

// Tests of the authorization-server part of the contract: signing keys,
// users, consents, authorization requests, codes, refresh tokens, revocation
// markers and the maintenance methods of Store.

// racers is how many goroutines race for one compare-and-set.
const racers = 8

// ---- fixtures

func newSigningKey(id, domainID, alg string, created time.Time) watchword.SigningKey {
	return watchword.SigningKey{
		ID: id, DomainID: domainID, Alg: alg, Private: []byte{0x30, 0x00, 0x81, 0xff, byte(len(id))}, KeyID: "k1",
		Public: []byte{0x30, 0x2a, 0x00, 0x05}, CreatedAt: created,
	}
}

func newUser(id, domainID, username string) watchword.User {
	return watchword.User{
		ID: id, DomainID: domainID, Username: username, Email: username + "@example.org",
		DisplayName: "User " + username, PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
		CreatedAt: t0, UpdatedAt: t0,
	}
}

func newAuthRequest(id, clientID string) watchword.AuthRequest {
	return watchword.AuthRequest{
		ID: id, DomainID: "dom-1", ClientID: clientID, RedirectURI: "https://app.example/cb",
		Scopes: []string{"openid", "profile"}, State: "st-" + id, Nonce: "n-" + id,
		CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", CodeChallengeMethod: "S256",
		CreatedAt: t0, ExpiresAt: at(10 * time.Minute),
	}
}

// hash is a code or token hash with bytes that text would mangle.
func hash(s string) []byte { return append([]byte{0x00, 0xff, 0x80}, s...) }

func newAuthCode(name, clientID string) watchword.AuthCode {
	return watchword.AuthCode{
		Hash: hash(name), DomainID: "dom-1", ClientID: clientID, UserID: "usr-1",
		RedirectURI: "https://app.example/cb", Scopes: []string{"openid", "email"}, Nonce: "n-" + name,
		CodeChallenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", CodeChallengeMethod: "S256",
		AuthTime: at(-time.Minute), CreatedAt: t0, ExpiresAt: at(time.Minute),
	}
}

func newRefreshToken(name, clientID, familyID string) watchword.RefreshToken {
	return watchword.RefreshToken{
		Hash: hash(name), DomainID: "dom-1", ClientID: clientID, UserID: "usr-1", FamilyID: familyID,
		Scopes: []string{"openid", "offline_access"}, AuthTime: at(-time.Minute), CreatedAt: t0,
		ExpiresAt: at(30 * 24 * time.Hour),
	}
}

// seedGrants creates dom-1 with clients cli-1 and cli-2, then runs fn.
func seedGrants(t *testing.T, s store.Store, fn func(tx store.Tx) error) {
	t.Helper()
	seedDomainClient(t, s, newDomain("dom-1", "one"), newClient("cli-1", "dom-1", "app"), newClient("cli-2", "dom-1", "other"))
	seed(t, s, fn)
}

// each calls create for every value, stopping at the first error.
func each[T any](create func(T) error, vs ...T) error {
	for _, v := range vs {
		if err := create(v); err != nil {
			return err
		}
	}
	return nil
}

// ---- what a store returns for what was written

func wantSigningKey(k watchword.SigningKey) watchword.SigningKey {
	k.CreatedAt, k.RetiredAt = store.Truncate(k.CreatedAt), tr(k.RetiredAt)
	return k
}

func wantUser(u watchword.User) watchword.User {
	u.CreatedAt, u.UpdatedAt = store.Truncate(u.CreatedAt), store.Truncate(u.UpdatedAt)
	return u
}

func wantAuthRequest(r watchword.AuthRequest) watchword.AuthRequest {
	r.AuthTime, r.CreatedAt, r.ExpiresAt = tr(r.AuthTime), store.Truncate(r.CreatedAt), store.Truncate(r.ExpiresAt)
	return r
}

func wantAuthCode(c watchword.AuthCode) watchword.AuthCode {
	c.AuthTime, c.CreatedAt, c.ExpiresAt = store.Truncate(c.AuthTime), store.Truncate(c.CreatedAt), store.Truncate(c.ExpiresAt)
	c.UsedAt = tr(c.UsedAt)
	return c
}

func wantRefreshToken(rt watchword.RefreshToken) watchword.RefreshToken {
	rt.AuthTime, rt.CreatedAt, rt.ExpiresAt = store.Truncate(rt.AuthTime), store.Truncate(rt.CreatedAt), store.Truncate(rt.ExpiresAt)
	rt.UsedAt, rt.RevokedAt = tr(rt.UsedAt), tr(rt.RevokedAt)
	return rt
}

func checkAuthCode(t *testing.T, s store.Store, what string, want watchword.AuthCode) {
	t.Helper()
	got, err := s.GetAuthCode(t.Context(), want.Hash)
	must(t, what, err)
	check(t, what, got, wantAuthCode(want))
}

func checkRefreshToken(t *testing.T, s store.Store, what string, want watchword.RefreshToken) {
	t.Helper()
	got, err := s.GetRefreshToken(t.Context(), want.Hash)
	must(t, what, err)
	check(t, what, got, wantRefreshToken(want))
}

// race runs fn in a Tx from racers goroutines released at once, and
// returns each one's error.
func race(t *testing.T, s store.Store, fn func(i int, tx store.Tx) error) []error {
	t.Helper()
	errs := make([]error, racers)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range racers {
		wg.Go(func() {
			<-start
			errs[i] = s.Tx(t.Context(), func(tx store.Tx) error { return fn(i, tx) })
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// oneWinner checks that exactly one error is nil and all others are loss,
// and returns the winner's index.
func oneWinner(t *testing.T, what string, errs []error, loss error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner < 0:
			winner = i
		case err == nil:
			t.Errorf("%s: racers %d and %d both succeeded", what, winner, i)
		case !errors.Is(err, loss):
			t.Errorf("%s: racer %d: got error %v, want %v", what, i, err, loss)
		}
	}
	if winner < 0 {
		t.Fatalf("%s: no racer succeeded (%v)", what, errs)
	}
	return winner
}

// ---- signing keys

func testSigningKeys(t *testing.T, s store.Store) {
	ctx := t.Context()
	seedDomainClient(t, s, newDomain("dom-1", "one"))
	seedDomainClient(t, s, newDomain("dom-2", "two"))
	keys, err := s.ListSigningKeys(ctx, "dom-1")
	must(t, "ListSigningKeys with no keys", err)
	check(t, "ListSigningKeys with no keys", keys, []watchword.SigningKey{})

	retired := newSigningKey("key-r", "dom-1", watchword.AlgRS256, t0)
	retired.RetiredAt = ptr(at(time.Hour))
	current := newSigningKey("key-c", "dom-1", watchword.AlgRS256, at(time.Minute))
	ed := newSigningKey("key-e", "dom-1", watchword.AlgEdDSA, at(time.Minute)) // same time: ordered by id
	other := newSigningKey("key-o", "dom-2", watchword.AlgRS256, t0)
	retired2 := newSigningKey("key-r2", "dom-1", watchword.AlgRS256, at(2*time.Minute))
	retired2.RetiredAt = ptr(at(3 * time.Minute))
	seed(t, s, func(tx store.Tx) error {
		// A retired key does not hold the (domain, alg) slot, before or
		// after the current key is created; another domain and another
		// algorithm have their own slots.
		must(t, "CreateSigningKey(retired)", tx.CreateSigningKey(ctx, retired))
		must(t, "CreateSigningKey(current)", tx.CreateSigningKey(ctx, current))
		must(t, "CreateSigningKey(other alg)", tx.CreateSigningKey(ctx, ed))
		must(t, "CreateSigningKey(other domain)", tx.CreateSigningKey(ctx, other))
		must(t, "CreateSigningKey(second retired)", tx.CreateSigningKey(ctx, retired2))
		// Failing with ErrAlreadyExists leaves the Tx usable: instances that
		// lost the race go on to read the winner's key.
		second := newSigningKey("key-2", "dom-1", watchword.AlgRS256, at(time.Hour))
		checkErr(t, "CreateSigningKey(second current of an alg)", tx.CreateSigningKey(ctx, second), store.ErrAlreadyExists)
		sameID := newSigningKey("key-c", "dom-1", watchword.AlgES256, t0)
		checkErr(t, "CreateSigningKey(same id)", tx.CreateSigningKey(ctx, sameID), store.ErrAlreadyExists)
		keys, err := tx.ListSigningKeys(ctx, "dom-1")
		must(t, "ListSigningKeys after ErrAlreadyExists", err)
		check(t, "keys after ErrAlreadyExists", len(keys), 4)
		return nil
	})
	keys, err = s.ListSigningKeys(ctx, "dom-1")
	must(t, "ListSigningKeys", err)
	check(t, "ListSigningKeys (oldest first, retired included)", keys, []watchword.SigningKey{
		wantSigningKey(retired), wantSigningKey(current), wantSigningKey(ed), wantSigningKey(retired2),
	})
	keys, err = s.ListSigningKeys(ctx, "dom-2")
	must(t, "ListSigningKeys(other domain)", err)
	check(t, "ListSigningKeys(other domain)", keys, []watchword.SigningKey{wantSigningKey(other)})

	err = s.Tx(ctx, func(tx store.Tx) error {
		return tx.CreateSigningKey(ctx, newSigningKey("key-x", "dom-x", watchword.AlgRS256, t0))
	})
	if err == nil {
		t.Errorf("CreateSigningKey(unknown domain): got no error, want a foreign key violation")
	}
}

// testConcurrentCreateSigningKey: instances racing to create a domain's
// first key of an algorithm agree on one.
func testConcurrentCreateSigningKey(t *testing.T, s store.Store) {
	seedDomainClient(t, s, newDomain("dom-1", "one"))
	errs := race(t, s, func(i int, tx store.Tx) error {
		return tx.CreateSigningKey(t.Context(), newSigningKey(fmt.Sprintf("key-%d", i), "dom-1", watchword.AlgEdDSA, tx.Now()))
	})
	winner := oneWinner(t, "CreateSigningKey", errs, store.ErrAlreadyExists)
	keys, err := s.ListSigningKeys(t.Context(), "dom-1")
	must(t, "ListSigningKeys", err)
	if len(keys) != 1 || keys[0].ID != fmt.Sprintf("key-%d", winner) {
		t.Errorf("keys after the race = %s, want only key-%d", dump(keys), winner)
	}
}

// ---- users

func testUsers(t *testing.T, s store.Store) {
	ctx := t.Context()
	seedDomainClient(t, s, newDomain("dom-1", "one"))
	seedDomainClient(t, s, newDomain("dom-2", "two"))
	var users []watchword.User // written out of order
	for i, name := range []string{"carol", "alice", "Bob", "dave"} {
		u := newUser(fmt.Sprintf("usr-%d", i), "dom-1", name)
		if name == "dave" {
			u.Email, u.DisplayName, u.Disabled = "", "", true
		}
		users = append(users, u)
	}
	carol, alice, bob, dave := users[0], users[1], users[2], users[3]
	elsewhere := newUser("usr-x", "dom-2", "alice") // usernames are unique per domain only
	seed(t, s, func(tx store.Tx) error {
		return each(func(u watchword.User) error { return tx.CreateUser(ctx, u) }, append(users, elsewhere)...)
	})

	for _, u := range []watchword.User{alice, dave, elsewhere} {
		got, err := s.GetUser(ctx, u.DomainID, u.ID)
		must(t, "GetUser", err)
		check(t, "GetUser("+u.ID+")", got, wantUser(u))
		got, err = s.GetUserByUsername(ctx, u.DomainID, u.Username)
		must(t, "GetUserByUsername", err)
		check(t, "GetUserByUsername("+u.Username+")", got, wantUser(u))
	}
	for _, tc := range []struct{ name, domainID, id string }{
		{"unknown id", "dom-1", "usr-y"},
		{"other domain", "dom-2", "usr-0"},
	} {
		_, err := s.GetUser(ctx, tc.domainID, tc.id)
		checkErr(t, "GetUser("+tc.name+")", err, store.ErrNotFound)
	}
	_, err := s.GetUserByUsername(ctx, "dom-2", "carol")
	checkErr(t, "GetUserByUsername(other domain)", err, store.ErrNotFound)
	_, err = s.GetUserByUsername(ctx, "dom-1", "bob")
	checkErr(t, "GetUserByUsername(other case)", err, store.ErrNotFound)

	want := func(us ...watchword.User) []watchword.User {
		out := []watchword.User{}
		for _, u := range us {
			out = append(out, wantUser(u))
		}
		return out
	}
	for _, tc := range []struct {
		name          string
		domainID      string
		offset, limit int
		want          []watchword.User
		wantTotal     int
	}{
		// Bytewise order: upper case first.
		{"all, by username", "dom-1", 0, 0, want(bob, alice, carol, dave), 4},
		{"page", "dom-1", 1, 2, want(alice, carol), 4},
		{"past the end", "dom-1", 4, 10, want(), 4},
		{"other domain", "dom-2", 0, 10, want(elsewhere), 1},
		{"unknown domain", "dom-x", 0, 10, want(), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, total, err := s.ListUsers(ctx, tc.domainID, tc.offset, tc.limit)
			must(t, "ListUsers", err)
			check(t, "users", got, tc.want)
			check(t, "total", total, tc.wantTotal)
		})
	}

	seed(t, s, func(tx store.Tx) error {
		checkErr(t, "CreateUser(same username)", tx.CreateUser(ctx, newUser("usr-9", "dom-1", "carol")), store.ErrAlreadyExists)
		checkErr(t, "CreateUser(same id)", tx.CreateUser(ctx, newUser("usr-0", "dom-2", "zed")), store.ErrAlreadyExists)
		taken := bob
		taken.Username = "alice"
		checkErr(t, "UpdateUser(taken username)", tx.UpdateUser(ctx, taken), store.ErrAlreadyExists)
		checkErr(t, "UpdateUser(missing)", tx.UpdateUser(ctx, newUser("usr-y", "dom-1", "yves")), store.ErrNotFound)
		wrong := carol
		wrong.DomainID = "dom-2"
		checkErr(t, "UpdateUser(other domain)", tx.UpdateUser(ctx, wrong), store.ErrNotFound)
		return nil
	})
	err = s.Tx(ctx, func(tx store.Tx) error { return tx.CreateUser(ctx, newUser("usr-z", "dom-x", "zed")) })
	if err == nil {
		t.Errorf("CreateUser(unknown domain): got no error, want a foreign key violation")
	}

	upd := carol
	upd.Username, upd.Email, upd.DisplayName = "caroline", "c@example.net", "Caroline"
	upd.PasswordHash, upd.Disabled, upd.UpdatedAt = "$argon2id$new", true, at(time.Hour)
	upd2 := dave
	upd2.Disabled, upd2.UpdatedAt = false, at(2*time.Hour)
	seed(t, s, func(tx store.Tx) error {
		return each(func(u watchword.User) error { return tx.UpdateUser(ctx, u) }, upd, upd2)
	})
	for _, u := range []watchword.User{upd, upd2} {
		got, err := s.GetUser(ctx, "dom-1", u.ID)
		must(t, "GetUser after update", err)
		check(t, "GetUser("+u.ID+") after update", got, wantUser(u))
	}
	_, err = s.GetUserByUsername(ctx, "dom-1", "carol")
	checkErr(t, "GetUserByUsername(old name)", err, store.ErrNotFound)
}

// ---- consents

func testConsents(t *testing.T, s store.Store) {
	ctx := t.Context()
	seedDomainClient(t, s, newDomain("dom-1", "one"), newClient("cli-1", "dom-1", "app"), newClient("cli-2", "dom-1", "other"))
	_, err := s.GetConsent(ctx, "dom-1", "usr-1", "cli-1")
	checkErr(t, "GetConsent(none)", err, store.ErrNotFound)

	seed(t, s, func(tx store.Tx) error {
		must(t, "PutConsent", tx.PutConsent(ctx, "dom-1", "usr-1", "cli-1", []string{"openid", "profile"}))
		must(t, "PutConsent(other client)", tx.PutConsent(ctx, "dom-1", "usr-1", "cli-2", []string{}))
		must(t, "PutConsent(other user)", tx.PutConsent(ctx, "dom-1", "usr-2", "cli-1", nil))
		return nil
	})
	for _, tc := range []struct {
		name, userID, clientID string
		want                   []string
	}{
		{"scopes", "usr-1", "cli-1", []string{"openid", "profile"}},
		{"empty", "usr-1", "cli-2", []string{}},
		{"nil", "usr-2", "cli-1", nil},
	} {
		got, err := s.GetConsent(ctx, "dom-1", tc.userID, tc.clientID)
		must(t, "GetConsent("+tc.name+")", err)
		check(t, "GetConsent("+tc.name+")", got, tc.want)
	}
	_, err = s.GetConsent(ctx, "dom-2", "usr-1", "cli-1")
	checkErr(t, "GetConsent(other domain)", err, store.ErrNotFound)
	_, err = s.GetConsent(ctx, "dom-1", "usr-2", "cli-2")
	checkErr(t, "GetConsent(other pair)", err, store.ErrNotFound)

	// Putting again replaces, inside the Tx and after it.
	seed(t, s, func(tx store.Tx) error {
		must(t, "PutConsent(again)", tx.PutConsent(ctx, "dom-1", "usr-1", "cli-1", []string{"openid", "email", "profile"}))
		got, err := tx.GetConsent(ctx, "dom-1", "usr-1", "cli-1")
		must(t, "GetConsent inside the Tx", err)
		check(t, "GetConsent inside the Tx", got, []string{"openid", "email", "profile"})
		return tx.PutConsent(ctx, "dom-1", "usr-1", "cli-1", []string{"openid"})
	})
	got, err := s.GetConsent(ctx, "dom-1", "usr-1", "cli-1")
	must(t, "GetConsent after replace", err)
	check(t, "GetConsent after replace", got, []string{"openid"})
}

// ---- authorization requests

func testAuthRequests(t *testing.T, s store.Store) {
	ctx := t.Context()
	fresh := newAuthRequest("req-1", "cli-1") // before login: no user, no auth time
	bare := watchword.AuthRequest{ID: "req-2", DomainID: "dom-1", ClientID: "cli-2", CreatedAt: t0, ExpiresAt: at(time.Minute)}
	seedGrants(t, s, func(tx store.Tx) error {
		return each(func(r watchword.AuthRequest) error { return tx.CreateAuthRequest(ctx, r) }, fresh, bare)
	})
	for _, r := range []watchword.AuthRequest{fresh, bare} {
		got, err := s.GetAuthRequest(ctx, r.ID)
		must(t, "GetAuthRequest", err)
		check(t, "GetAuthRequest("+r.ID+")", got, wantAuthRequest(r))
	}
	_, err := s.GetAuthRequest(ctx, "req-x")
	checkErr(t, "GetAuthRequest(missing)", err, store.ErrNotFound)

	// Login sets the user and auth time; every other mutable field too.
	upd := fresh
	upd.UserID, upd.AuthTime = "usr-1", ptr(at(2*time.Minute))
	upd.Scopes, upd.State, upd.Nonce, upd.CodeChallenge, upd.CodeChallengeMethod = []string{}, "", "", "plainval", "plain"
	upd.RedirectURI, upd.ExpiresAt = "https://app.example/cb2", at(20*time.Minute)
	seed(t, s, func(tx store.Tx) error {
		checkErr(t, "CreateAuthRequest(same id)", tx.CreateAuthRequest(ctx, newAuthRequest("req-1", "cli-2")), store.ErrAlreadyExists)
		checkErr(t, "UpdateAuthRequest(missing)", tx.UpdateAuthRequest(ctx, newAuthRequest("req-x", "cli-1")), store.ErrNotFound)
		return tx.UpdateAuthRequest(ctx, upd)
	})
	got, err := s.GetAuthRequest(ctx, "req-1")
	must(t, "GetAuthRequest after update", err)
	check(t, "GetAuthRequest after update", got, wantAuthRequest(upd))

	err = s.Tx(ctx, func(tx store.Tx) error { return tx.CreateAuthRequest(ctx, newAuthRequest("req-3", "cli-x")) })
	if err == nil {
		t.Errorf("CreateAuthRequest(unknown client): got no error, want a foreign key violation")
	}

	// Deleting consumes the request: a second delete finds nothing.
	seed(t, s, func(tx store.Tx) error {
		must(t, "DeleteAuthRequest", tx.DeleteAuthRequest(ctx, "req-1"))
		checkErr(t, "DeleteAuthRequest(again)", tx.DeleteAuthRequest(ctx, "req-1"), store.ErrNotFound)
		return nil
	})
	_, err = s.GetAuthRequest(ctx, "req-1")
	checkErr(t, "GetAuthRequest(deleted)", err, store.ErrNotFound)
	_, err = s.GetAuthRequest(ctx, "req-2")
	must(t, "GetAuthRequest(other)", err)
}

// ---- authorization codes

func testAuthCodes(t *testing.T, s store.Store) {
	ctx := t.Context()
	code := newAuthCode("code-1", "cli-1")
	bare := watchword.AuthCode{Hash: hash("code-2"), DomainID: "dom-1", ClientID: "cli-2", UserID: "usr-2",
		AuthTime: t0, CreatedAt: t0, ExpiresAt: at(time.Minute)}
	used := newAuthCode("code-3", "cli-1")
	used.UsedAt, used.FamilyID = ptr(at(10*time.Second)), "fam-3"
	prefix := newAuthCode("code-1", "cli-1")
	prefix.Hash = prefix.Hash[:len(prefix.Hash)-1] // a prefix of code-1's hash is another code
	seedGrants(t, s, func(tx store.Tx) error {
		return each(func(c watchword.AuthCode) error { return tx.CreateAuthCode(ctx, c) }, code, bare, used, prefix)
	})
	for _, c := range []watchword.AuthCode{code, bare, used, prefix} {
		checkAuthCode(t, s, fmt.Sprintf("GetAuthCode(%x)", c.Hash), c)
	}
	_, err := s.GetAuthCode(ctx, hash("code-x"))
	checkErr(t, "GetAuthCode(missing)", err, store.ErrNotFound)
	err = s.Tx(ctx, func(tx store.Tx) error { return tx.CreateAuthCode(ctx, newAuthCode("code-1", "cli-2")) })
	checkErr(t, "CreateAuthCode(same hash)", err, store.ErrAlreadyExists)
	err = s.Tx(ctx, func(tx store.Tx) error { return tx.CreateAuthCode(ctx, newAuthCode("code-9", "cli-x")) })
	if err == nil {
		t.Errorf("CreateAuthCode(unknown client): got no error, want a foreign key violation")
	}

	// Redeeming sets used_at and the family; a second redemption, of this
	// code or of one used before, conflicts and changes nothing; the Tx
	// stays usable after ErrConflict and ErrNotFound.
	seed(t, s, func(tx store.Tx) error {
		must(t, "UseAuthCode", tx.UseAuthCode(ctx, code.Hash, at(20*time.Second), "fam-1"))
		checkErr(t, "UseAuthCode(again)", tx.UseAuthCode(ctx, code.Hash, at(30*time.Second), "fam-2"), store.ErrConflict)
		checkErr(t, "UseAuthCode(used before)", tx.UseAuthCode(ctx, used.Hash, at(30*time.Second), "fam-2"), store.ErrConflict)
		checkErr(t, "UseAuthCode(missing)", tx.UseAuthCode(ctx, hash("code-x"), at(30*time.Second), "fam-2"), store.ErrNotFound)
		return tx.UseAuthCode(ctx, bare.Hash, at(40*time.Second), "fam-b")
	})
	code.UsedAt, code.FamilyID = ptr(at(20*time.Second)), "fam-1"
	bare.UsedAt, bare.FamilyID = ptr(at(40*time.Second)), "fam-b"
	for _, c := range []watchword.AuthCode{code, bare, used, prefix} {
		checkAuthCode(t, s, fmt.Sprintf("GetAuthCode(%x) after use", c.Hash), c)
	}
}

// testConcurrentUseAuthCode: of racing redemptions of one code exactly one
// wins; the others get ErrConflict, and the code keeps the winner's family.
func testConcurrentUseAuthCode(t *testing.T, s store.Store) {
	code := newAuthCode("code-1", "cli-1")
	seedGrants(t, s, func(tx store.Tx) error { return tx.CreateAuthCode(t.Context(), code) })
	errs := race(t, s, func(i int, tx store.Tx) error {
		if _, err := tx.GetAuthCode(t.Context(), code.Hash); err != nil {
			return err
		}
		return tx.UseAuthCode(t.Context(), code.Hash, at(time.Duration(i)*time.Second), fmt.Sprintf("fam-%d", i))
	})
	winner := oneWinner(t, "UseAuthCode", errs, store.ErrConflict)
	code.UsedAt, code.FamilyID = ptr(at(time.Duration(winner)*time.Second)), fmt.Sprintf("fam-%d", winner)
	checkAuthCode(t, s, "GetAuthCode after the race", code)
}

// ---- refresh tokens

func testRefreshTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	tok := newRefreshToken("rt-1", "cli-1", "fam-1")
	bare := watchword.RefreshToken{Hash: hash("rt-2"), DomainID: "dom-1", ClientID: "cli-2", UserID: "usr-2",
		FamilyID: "fam-2", AuthTime: t0, CreatedAt: t0, ExpiresAt: at(time.Hour)}
	used := newRefreshToken("rt-3", "cli-1", "fam-1")
	used.UsedAt = ptr(at(time.Second))
	revoked := newRefreshToken("rt-4", "cli-1", "fam-4")
	revoked.RevokedAt = ptr(at(2 * time.Second))
	seedGrants(t, s, func(tx store.Tx) error {
		return each(func(rt watchword.RefreshToken) error { return tx.CreateRefreshToken(ctx, rt) }, tok, bare, used, revoked)
	})
	for _, rt := range []watchword.RefreshToken{tok, bare, used, revoked} {
		checkRefreshToken(t, s, fmt.Sprintf("GetRefreshToken(%x)", rt.Hash), rt)
	}
	_, err := s.GetRefreshToken(ctx, hash("rt-x"))
	checkErr(t, "GetRefreshToken(missing)", err, store.ErrNotFound)
	err = s.Tx(ctx, func(tx store.Tx) error { return tx.CreateRefreshToken(ctx, newRefreshToken("rt-1", "cli-2", "fam-9")) })
	checkErr(t, "CreateRefreshToken(same hash)", err, store.ErrAlreadyExists)
	err = s.Tx(ctx, func(tx store.Tx) error { return tx.CreateRefreshToken(ctx, newRefreshToken("rt-9", "cli-x", "fam-9")) })
	if err == nil {
		t.Errorf("CreateRefreshToken(unknown client): got no error, want a foreign key violation")
	}

	seed(t, s, func(tx store.Tx) error {
		must(t, "UseRefreshToken", tx.UseRefreshToken(ctx, tok.Hash, at(time.Minute)))
		checkErr(t, "UseRefreshToken(again)", tx.UseRefreshToken(ctx, tok.Hash, at(2*time.Minute)), store.ErrConflict)
		checkErr(t, "UseRefreshToken(used before)", tx.UseRefreshToken(ctx, used.Hash, at(2*time.Minute)), store.ErrConflict)
		checkErr(t, "UseRefreshToken(revoked)", tx.UseRefreshToken(ctx, revoked.Hash, at(2*time.Minute)), store.ErrConflict)
		checkErr(t, "UseRefreshToken(missing)", tx.UseRefreshToken(ctx, hash("rt-x"), at(2*time.Minute)), store.ErrNotFound)
		return nil
	})
	tok.UsedAt = ptr(at(time.Minute))
	for _, rt := range []watchword.RefreshToken{tok, bare, used, revoked} {
		checkRefreshToken(t, s, fmt.Sprintf("GetRefreshToken(%x) after use", rt.Hash), rt)
	}
}

// testConcurrentUseRefreshToken: of racing refreshes with one token exactly
// one wins; the others get ErrConflict.
func testConcurrentUseRefreshToken(t *testing.T, s store.Store) {
	tok := newRefreshToken("rt-1", "cli-1", "fam-1")
	seedGrants(t, s, func(tx store.Tx) error { return tx.CreateRefreshToken(t.Context(), tok) })
	errs := race(t, s, func(i int, tx store.Tx) error {
		if err := tx.UseRefreshToken(t.Context(), tok.Hash, at(time.Duration(i)*time.Second)); err != nil {
			return err
		}
		// The winner rotates: its successor is created in the same Tx.
		return tx.CreateRefreshToken(t.Context(), newRefreshToken(fmt.Sprintf("rt-next-%d", i), "cli-1", "fam-1"))
	})
	winner := oneWinner(t, "UseRefreshToken", errs, store.ErrConflict)
	tok.UsedAt = ptr(at(time.Duration(winner) * time.Second))
	checkRefreshToken(t, s, "GetRefreshToken after the race", tok)
	for i := range racers {
		_, err := s.GetRefreshToken(t.Context(), hash(fmt.Sprintf("rt-next-%d", i)))
		if i == winner {
			must(t, "GetRefreshToken(winner's successor)", err)
		} else {
			checkErr(t, fmt.Sprintf("GetRefreshToken(successor of loser %d)", i), err, store.ErrNotFound)
		}
	}
}

// testRevokeFamily: every token of the family is revoked, except that one
// revoked before keeps its time; other families are untouched.
func testRevokeFamily(t *testing.T, s store.Store) {
	ctx := t.Context()
	used := newRefreshToken("rt-1", "cli-1", "fam-a")
	used.UsedAt = ptr(at(time.Second))
	current := newRefreshToken("rt-2", "cli-1", "fam-a")
	before := newRefreshToken("rt-3", "cli-1", "fam-a")
	before.RevokedAt = ptr(at(2 * time.Second))
	other := newRefreshToken("rt-4", "cli-1", "fam-b")
	seedGrants(t, s, func(tx store.Tx) error {
		return each(func(rt watchword.RefreshToken) error { return tx.CreateRefreshToken(ctx, rt) }, used, current, before, other)
	})
	seed(t, s, func(tx store.Tx) error {
		must(t, "RevokeFamily", tx.RevokeFamily(ctx, "fam-a", at(time.Minute)))
		must(t, "RevokeFamily(again)", tx.RevokeFamily(ctx, "fam-a", at(2*time.Minute)))
		must(t, "RevokeFamily(unknown)", tx.RevokeFamily(ctx, "fam-x", at(time.Minute)))
		checkErr(t, "UseRefreshToken(revoked)", tx.UseRefreshToken(ctx, current.Hash, at(time.Hour)), store.ErrConflict)
		return nil
	})
	used.RevokedAt, current.RevokedAt = ptr(at(time.Minute)), ptr(at(time.Minute))
	for _, rt := range []watchword.RefreshToken{used, current, before, other} {
		checkRefreshToken(t, s, fmt.Sprintf("GetRefreshToken(%x) after RevokeFamily", rt.Hash), rt)
	}
}

// testRevokeClientGrants: the client's refresh tokens are revoked and its
// unused codes used up; earlier times stay, other clients are untouched.
func testRevokeClientGrants(t *testing.T, s store.Store) {
	ctx := t.Context()
	tok := newRefreshToken("rt-1", "cli-1", "fam-1")
	tokBefore := newRefreshToken("rt-2", "cli-1", "fam-2")
	tokBefore.RevokedAt = ptr(at(time.Second))
	tokOther := newRefreshToken("rt-3", "cli-2", "fam-3")
	code := newAuthCode("code-1", "cli-1")
	codeUsed := newAuthCode("code-2", "cli-1")
	codeUsed.UsedAt, codeUsed.FamilyID = ptr(at(time.Second)), "fam-1"
	codeOther := newAuthCode("code-3", "cli-2")
	seedGrants(t, s, func(tx store.Tx) error {
		if err := each(func(rt watchword.RefreshToken) error { return tx.CreateRefreshToken(ctx, rt) }, tok, tokBefore, tokOther); err != nil {
			return err
		}
		return each(func(c watchword.AuthCode) error { return tx.CreateAuthCode(ctx, c) }, code, codeUsed, codeOther)
	})
	seed(t, s, func(tx store.Tx) error {
		must(t, "RevokeClientGrants", tx.RevokeClientGrants(ctx, "cli-1", at(time.Minute)))
		must(t, "RevokeClientGrants(unknown client)", tx.RevokeClientGrants(ctx, "cli-x", at(time.Minute)))
		checkErr(t, "UseAuthCode(revoked)", tx.UseAuthCode(ctx, code.Hash, at(time.Hour), "fam-9"), store.ErrConflict)
		checkErr(t, "UseRefreshToken(revoked)", tx.UseRefreshToken(ctx, tok.Hash, at(time.Hour)), store.ErrConflict)
		return nil
	})
	tok.RevokedAt, code.UsedAt = ptr(at(time.Minute)), ptr(at(time.Minute))
	for _, rt := range []watchword.RefreshToken{tok, tokBefore, tokOther} {
		checkRefreshToken(t, s, fmt.Sprintf("GetRefreshToken(%x) after RevokeClientGrants", rt.Hash), rt)
	}
	for _, c := range []watchword.AuthCode{code, codeUsed, codeOther} {
		checkAuthCode(t, s, fmt.Sprintf("GetAuthCode(%x) after RevokeClientGrants", c.Hash), c)
	}
}

// testRevokeUserGrants: the user's refresh tokens (any client) are revoked,
// unused codes used up and families marked; other users are untouched.
func testRevokeUserGrants(t *testing.T, s store.Store) {
	ctx := t.Context()
	mine := newRefreshToken("rt-1", "cli-1", "fam-1")
	mineOtherClient := newRefreshToken("rt-2", "cli-2", "fam-2")
	theirs := newRefreshToken("rt-3", "cli-1", "fam-3")
	theirs.UserID = "usr-2"
	code := newAuthCode("code-1", "cli-1")
	theirCode := newAuthCode("code-2", "cli-1")
	theirCode.UserID = "usr-2"
	seedGrants(t, s, func(tx store.Tx) error {
		if err := each(func(rt watchword.RefreshToken) error { return tx.CreateRefreshToken(ctx, rt) }, mine, mineOtherClient, theirs); err != nil {
			return err
		}
		return each(func(c watchword.AuthCode) error { return tx.CreateAuthCode(ctx, c) }, code, theirCode)
	})
	seed(t, s, func(tx store.Tx) error {
		must(t, "RevokeUserGrants", tx.RevokeUserGrants(ctx, "dom-1", "usr-1", at(time.Minute), at(time.Hour)))
		must(t, "RevokeUserGrants(again)", tx.RevokeUserGrants(ctx, "dom-1", "usr-1", at(2*time.Minute), at(time.Hour)))
		must(t, "RevokeUserGrants(other domain)", tx.RevokeUserGrants(ctx, "dom-x", "usr-2", at(time.Minute), at(time.Hour)))
		return nil
	})
	mine.RevokedAt, mineOtherClient.RevokedAt, code.UsedAt = ptr(at(time.Minute)), ptr(at(time.Minute)), ptr(at(time.Minute))
	for _, rt := range []watchword.RefreshToken{mine, mineOtherClient, theirs} {
		checkRefreshToken(t, s, fmt.Sprintf("GetRefreshToken(%x) after RevokeUserGrants", rt.Hash), rt)
	}
	for _, c := range []watchword.AuthCode{code, theirCode} {
		checkAuthCode(t, s, fmt.Sprintf("GetAuthCode(%x) after RevokeUserGrants", c.Hash), c)
	}
	for _, tc := range []struct {
		id   string
		want bool
	}{{"fam-1", true}, {"fam-2", true}, {"fam-3", false}} {
		got, err := s.IsRevoked(ctx, tc.id)
		must(t, "IsRevoked", err)
		check(t, fmt.Sprintf("IsRevoked(%q)", tc.id), got, tc.want)
	}
}

// testMarkClientFamiliesRevoked: every family of the client with a refresh
// token (used, revoked or live) or a redeemed code gets a marker; other
// clients' families and unredeemed codes do not; an existing later expiry
// stays.
func testMarkClientFamiliesRevoked(t *testing.T, s store.Store) {
	ctx := t.Context()
	live := newRefreshToken("rt-1", "cli-1", "fam-1")
	used := newRefreshToken("rt-2", "cli-1", "fam-1")
	used.UsedAt = ptr(at(time.Second))
	revoked := newRefreshToken("rt-3", "cli-1", "fam-2")
	revoked.RevokedAt = ptr(at(time.Second))
	other := newRefreshToken("rt-4", "cli-2", "fam-4")
	redeemed := newAuthCode("code-1", "cli-1")
	redeemed.UsedAt, redeemed.FamilyID, redeemed.ExpiresAt = ptr(at(time.Second)), "fam-3", at(24*time.Hour)
	unredeemed := newAuthCode("code-2", "cli-1")
	unredeemed.ExpiresAt = at(24 * time.Hour)
	otherCode := newAuthCode("code-3", "cli-2")
	otherCode.UsedAt, otherCode.FamilyID, otherCode.ExpiresAt = ptr(at(time.Second)), "fam-5", at(24*time.Hour)
	seedGrants(t, s, func(tx store.Tx) error {
		if err := each(func(rt watchword.RefreshToken) error { return tx.CreateRefreshToken(ctx, rt) }, live, used, revoked, other); err != nil {
			return err
		}
		if err := each(func(c watchword.AuthCode) error { return tx.CreateAuthCode(ctx, c) }, redeemed, unredeemed, otherCode); err != nil {
			return err
		}
		return tx.MarkRevoked(ctx, watchword.RevokedToken{ID: "fam-1", DomainID: "dom-1", ExpiresAt: at(3 * time.Hour)})
	})
	seed(t, s, func(tx store.Tx) error {
		must(t, "MarkClientFamiliesRevoked", tx.MarkClientFamiliesRevoked(ctx, "cli-1", at(time.Hour)))
		must(t, "MarkClientFamiliesRevoked(again)", tx.MarkClientFamiliesRevoked(ctx, "cli-1", at(time.Hour)))
		must(t, "MarkClientFamiliesRevoked(unknown client)", tx.MarkClientFamiliesRevoked(ctx, "cli-x", at(time.Hour)))
		got, err := tx.IsRevoked(ctx, "fam-3")
		must(t, "IsRevoked inside the Tx", err)
		check(t, "IsRevoked(fam-3) inside the Tx", got, true)
		return nil
	})
	for _, tc := range []struct {
		id   string
		want bool
	}{{"fam-1", true}, {"fam-2", true}, {"fam-3", true}, {"fam-4", false}, {"fam-5", false}, {"", false}} {
		got, err := s.IsRevoked(ctx, tc.id)
		must(t, "IsRevoked", err)
		check(t, fmt.Sprintf("IsRevoked(%q)", tc.id), got, tc.want)
	}
	// The markers of fam-2 and fam-3 expire at 1h; fam-1 keeps its 3h.
	n, err := s.DeleteExpired(ctx, at(2*time.Hour))
	must(t, "DeleteExpired", err)
	check(t, "markers deleted at 2h", n, int64(2))
	for _, tc := range []struct {
		id   string
		want bool
	}{{"fam-1", true}, {"fam-2", false}, {"fam-3", false}} {
		got, err := s.IsRevoked(ctx, tc.id)
		must(t, "IsRevoked", err)
		check(t, fmt.Sprintf("IsRevoked(%q) after DeleteExpired", tc.id), got, tc.want)
	}
	// Nothing else changed.
	for _, rt := range []watchword.RefreshToken{live, used, revoked, other} {
		checkRefreshToken(t, s, fmt.Sprintf("GetRefreshToken(%x)", rt.Hash), rt)
	}
	for _, c := range []watchword.AuthCode{redeemed, unredeemed, otherCode} {
		checkAuthCode(t, s, fmt.Sprintf("GetAuthCode(%x)", c.Hash), c)
	}
}

// ---- revoked tokens

func testRevokedTokens(t *testing.T, s store.Store) {
	ctx := t.Context()
	seedDomainClient(t, s, newDomain("dom-1", "one"))
	isRevoked := func(want bool, ids ...string) {
		t.Helper()
		got, err := s.IsRevoked(ctx, ids...)
		must(t, fmt.Sprintf("IsRevoked(%q)", ids), err)
		check(t, fmt.Sprintf("IsRevoked(%q)", ids), got, want)
	}
	isRevoked(false)
	isRevoked(false, "jti-1")

	seed(t, s, func(tx store.Tx) error {
		must(t, "MarkRevoked", tx.MarkRevoked(ctx, watchword.RevokedToken{ID: "jti-1", DomainID: "dom-1", ExpiresAt: at(time.Hour)}))
		must(t, "MarkRevoked(family)", tx.MarkRevoked(ctx, watchword.RevokedToken{ID: "fam-1", DomainID: "dom-1", ExpiresAt: at(time.Hour)}))
		// Idempotent, and the Tx stays usable.
		must(t, "MarkRevoked(again)", tx.MarkRevoked(ctx, watchword.RevokedToken{ID: "jti-1", DomainID: "dom-1", ExpiresAt: at(time.Hour)}))
		got, err := tx.IsRevoked(ctx, "jti-1")
		must(t, "IsRevoked inside the Tx", err)
		check(t, "IsRevoked inside the Tx", got, true)
		return nil
	})
	isRevoked(true, "jti-1")
	isRevoked(true, "jti-x", "fam-1")
	isRevoked(true, "jti-1", "fam-1")
	isRevoked(false, "jti-x", "fam-x")
	isRevoked(false, "JTI-1")
	seed(t, s, func(tx store.Tx) error {
		return tx.MarkRevoked(ctx, watchword.RevokedToken{ID: "jti-1", DomainID: "dom-1", ExpiresAt: at(time.Hour)})
	})
	isRevoked(true, "jti-1")

	err := s.Tx(ctx, func(tx store.Tx) error {
		return tx.MarkRevoked(ctx, watchword.RevokedToken{ID: "jti-2", DomainID: "dom-x", ExpiresAt: at(time.Hour)})
	})
	if err == nil {
		t.Errorf("MarkRevoked(unknown domain): got no error, want a foreign key violation")
	}

	// Marking again never shortens a revocation: the later expiry stays.
	seed(t, s, func(tx store.Tx) error {
		for _, d := range []time.Duration{2 * time.Hour, 3 * time.Hour, 90 * time.Minute} {
			if err := tx.MarkRevoked(ctx, watchword.RevokedToken{ID: "jti-3", DomainID: "dom-1", ExpiresAt: at(d)}); err != nil {
				return err
			}
		}
		return nil
	})
	n, err := s.DeleteExpired(ctx, at(3*time.Hour))
	must(t, "DeleteExpired", err)
	check(t, "markers deleted before the latest expiry of jti-3", n, int64(2))
	isRevoked(false, "jti-1", "fam-1")
	isRevoked(true, "jti-3")
	n, err = s.DeleteExpired(ctx, at(3*time.Hour+time.Microsecond))
	must(t, "DeleteExpired", err)
	check(t, "markers deleted after the latest expiry of jti-3", n, int64(1))
	isRevoked(false, "jti-3")
}

// ---- maintenance

func testRecordSecretUse(t *testing.T, s store.Store) {
	ctx := t.Context()
	fresh := newSecret("sec-1", "cli-1", t0)
	seen := newSecret("sec-2", "cli-1", t0)
	seen.LastUsedAt, seen.UseCount = ptr(at(2*time.Hour)), 5
	idle := newSecret("sec-3", "cli-1", t0)
	seedDomainClient(t, s, newDomain("dom-1", "one"), newClient("cli-1", "dom-1", "app"))
	seed(t, s, func(tx store.Tx) error {
		return each(func(sec watchword.Secret) error { return tx.CreateSecret(ctx, sec) }, fresh, seen, idle)
	})
	checkUse := func(what string, want ...watchword.Secret) {
		t.Helper()
		for _, sec := range want {
			got, err := s.GetSecret(ctx, sec.ID)
			must(t, what, err)
			check(t, what+": "+sec.ID, got, wantSecret(sec))
		}
	}

	must(t, "RecordSecretUse(nil)", s.RecordSecretUse(ctx, nil))
	must(t, "RecordSecretUse", s.RecordSecretUse(ctx, []watchword.SecretUse{
		{SecretID: "sec-2", Count: 2, LastUsedAt: at(time.Hour)}, // earlier: last_used_at stays
		{SecretID: "sec-x", Count: 1, LastUsedAt: at(time.Hour)}, // unknown: ignored
		{SecretID: "sec-1", Count: 3, LastUsedAt: at(time.Hour).In(ist)},
	}))
	fresh.LastUsedAt, fresh.UseCount = ptr(at(time.Hour)), 3
	seen.UseCount = 7
	checkUse("after the first flush", fresh, seen, idle)

	must(t, "RecordSecretUse", s.RecordSecretUse(ctx, []watchword.SecretUse{
		{SecretID: "sec-2", Count: 1, LastUsedAt: at(3 * time.Hour)},
		{SecretID: "sec-2", Count: 1 << 33, LastUsedAt: at(150 * time.Minute)}, // the same secret twice
		{SecretID: "sec-1", Count: 1, LastUsedAt: at(time.Hour)},               // equal: stays
		{SecretID: "sec-3", Count: 4},                                          // no time: counts only
	}))
	fresh.UseCount = 4
	seen.LastUsedAt, seen.UseCount = ptr(at(3*time.Hour)), 8+1<<33
	idle.UseCount = 4
	checkUse("after the second flush", fresh, seen, idle)
}

// testConcurrentRecordSecretUse: flushes from several instances at once
// lose no count, and last_used_at ends at the latest use.
func testConcurrentRecordSecretUse(t *testing.T, s store.Store) {
	ctx := t.Context()
	seedDomainClient(t, s, newDomain("dom-1", "one"), newClient("cli-1", "dom-1", "app"))
	seed(t, s, func(tx store.Tx) error {
		return each(func(sec watchword.Secret) error { return tx.CreateSecret(ctx, sec) },
			newSecret("sec-1", "cli-1", t0), newSecret("sec-2", "cli-1", t0))
	})
	const flushes = 5
	var wg sync.WaitGroup
	for w := range racers {
		wg.Go(func() {
			for f := range flushes {
				last := at(time.Duration(w*flushes+f) * time.Second)
				uses := []watchword.SecretUse{{SecretID: "sec-1", Count: 1, LastUsedAt: last}, {SecretID: "sec-2", Count: 2, LastUsedAt: last}}
				if w%2 == 1 { // opposite order
					uses[0], uses[1] = uses[1], uses[0]
				}
				if err := s.RecordSecretUse(ctx, uses); err != nil {
					t.Errorf("RecordSecretUse: %v", err)
				}
			}
		})
	}
	wg.Wait()
	latest := store.Truncate(at(time.Duration(racers*flushes-1) * time.Second))
	for i, id := range []string{"sec-1", "sec-2"} {
		got, err := s.GetSecret(ctx, id)
		must(t, "GetSecret", err)
		check(t, id+" use count", got.UseCount, int64((i+1)*racers*flushes))
		if got.LastUsedAt == nil || !got.LastUsedAt.Equal(latest) {
			t.Errorf("%s last used at %s, want %s", id, dump(got.LastUsedAt), dump(latest))
		}
	}
}

// testDeleteExpired: rows that expired strictly before t go, a row expiring
// at t stays, in each of the four tables.
func testDeleteExpired(t *testing.T, s store.Store) {
	ctx := t.Context()
	cut := at(time.Hour) // has nanoseconds: compared at the store's precision
	exp := map[string]time.Time{
		"gone": store.Truncate(cut).Add(-time.Microsecond),
		"edge": cut,
		"kept": at(2 * time.Hour),
	}
	seedGrants(t, s, func(tx store.Tx) error {
		for name, e := range exp {
			ar := newAuthRequest("req-"+name, "cli-1")
			ar.ExpiresAt = e
			code := newAuthCode("code-"+name, "cli-1")
			code.ExpiresAt = e
			rt := newRefreshToken("rt-"+name, "cli-1", "fam-1")
			rt.ExpiresAt = e
			for _, err := range []error{
				tx.CreateAuthRequest(ctx, ar), tx.CreateAuthCode(ctx, code), tx.CreateRefreshToken(ctx, rt),
				tx.MarkRevoked(ctx, watchword.RevokedToken{ID: "jti-" + name, DomainID: "dom-1", ExpiresAt: e}),
			} {
				if err != nil {
					return err
				}
			}
		}
		return nil
	})
	n, err := s.DeleteExpired(ctx, cut)
	must(t, "DeleteExpired", err)
	check(t, "rows deleted", n, int64(4))
	for name := range exp {
		checkGone := func(what string, err error) {
			t.Helper()
			if name == "gone" {
				checkErr(t, what, err, store.ErrNotFound)
			} else if err != nil {
				t.Errorf("%s: %v", what, err)
			}
		}
		_, err := s.GetAuthRequest(ctx, "req-"+name)
		checkGone("GetAuthRequest(req-"+name+")", err)
		_, err = s.GetAuthCode(ctx, hash("code-"+name))
		checkGone("GetAuthCode(code-"+name+")", err)
		_, err = s.GetRefreshToken(ctx, hash("rt-"+name))
		checkGone("GetRefreshToken(rt-"+name+")", err)
		revoked, err := s.IsRevoked(ctx, "jti-"+name)
		must(t, "IsRevoked", err)
		check(t, "IsRevoked(jti-"+name+")", revoked, name != "gone")
	}
	n, err = s.DeleteExpired(ctx, cut)
	must(t, "DeleteExpired(again)", err)
	check(t, "rows deleted again", n, int64(0))
	// The edge rows go once the cut passes them by a microsecond.
	n, err = s.DeleteExpired(ctx, store.Truncate(cut).Add(time.Microsecond).In(ist))
	must(t, "DeleteExpired(later)", err)
	check(t, "rows deleted a microsecond later", n, int64(4))
}

// testGrantsRollback: compare-and-set writes roll back with their Tx, and
// the grant leaves no trace.
func testGrantsRollback(t *testing.T, s store.Store) {
	ctx := t.Context()
	code := newAuthCode("code-1", "cli-1")
	tok := newRefreshToken("rt-1", "cli-1", "fam-1")
	seedGrants(t, s, func(tx store.Tx) error {
		if err := tx.CreateAuthCode(ctx, code); err != nil {
			return err
		}
		return tx.CreateRefreshToken(ctx, tok)
	})
	err := s.Tx(ctx, func(tx store.Tx) error {
		must(t, "UseAuthCode", tx.UseAuthCode(ctx, code.Hash, at(time.Second), "fam-2"))
		must(t, "UseRefreshToken", tx.UseRefreshToken(ctx, tok.Hash, at(time.Second)))
		must(t, "CreateRefreshToken", tx.CreateRefreshToken(ctx, newRefreshToken("rt-2", "cli-1", "fam-2")))
		must(t, "MarkRevoked", tx.MarkRevoked(ctx, watchword.RevokedToken{ID: "fam-1", DomainID: "dom-1", ExpiresAt: at(time.Hour)}))
		must(t, "CreateUser", tx.CreateUser(ctx, newUser("usr-1", "dom-1", "alice")))
		must(t, "PutConsent", tx.PutConsent(ctx, "dom-1", "usr-1", "cli-1", []string{"openid"}))
		must(t, "CreateSigningKey", tx.CreateSigningKey(ctx, newSigningKey("key-1", "dom-1", watchword.AlgEdDSA, t0)))
		must(t, "CreateAuthRequest", tx.CreateAuthRequest(ctx, newAuthRequest("req-1", "cli-1")))
		return errBoom
	})
	checkErr(t, "Tx", err, errBoom)
	checkAuthCode(t, s, "GetAuthCode after rollback", code)
	checkRefreshToken(t, s, "GetRefreshToken after rollback", tok)
	_, err = s.GetRefreshToken(ctx, hash("rt-2"))
	checkErr(t, "GetRefreshToken(rolled back)", err, store.ErrNotFound)
	revoked, err := s.IsRevoked(ctx, "fam-1")
	must(t, "IsRevoked", err)
	check(t, "IsRevoked after rollback", revoked, false)
	_, err = s.GetUser(ctx, "dom-1", "usr-1")
	checkErr(t, "GetUser(rolled back)", err, store.ErrNotFound)
	_, err = s.GetConsent(ctx, "dom-1", "usr-1", "cli-1")
	checkErr(t, "GetConsent(rolled back)", err, store.ErrNotFound)
	keys, err := s.ListSigningKeys(ctx, "dom-1")
	must(t, "ListSigningKeys", err)
	check(t, "signing keys after rollback", len(keys), 0)
	_, err = s.GetAuthRequest(ctx, "req-1")
	checkErr(t, "GetAuthRequest(rolled back)", err, store.ErrNotFound)
	// The code can still be redeemed.
	seed(t, s, func(tx store.Tx) error { return tx.UseAuthCode(ctx, code.Hash, at(time.Minute), "fam-3") })
}

// ---- migration 2

// V1Rows are statements that fill a schema at migration 1 (before the
// OAuth settings existed) with a domain and a confidential, a public and a
// deleted client. A backend test runs them, migrates to the latest version
// and calls CheckV1Backfill.
var V1Rows = []string{
	`INSERT INTO domains (id, name, description, policy, created_at, updated_at)
	VALUES ('dom-v1', 'v1', '', '{"expiry":{"unit":"none"},"max_secrets":2,"default_transition":"1h","max_transition":"24h","allow_custom":true,"min_custom_length":32}', 1, 2)`,
	`INSERT INTO clients (id, domain_id, name, type, grant_types, redirect_uris, scopes, created_at, updated_at)
	VALUES ('cli-conf', 'dom-v1', 'conf', 'confidential', '["client_credentials"]', 'null', '[]', 3, 4)`,
	`INSERT INTO clients (id, domain_id, name, type, grant_types, redirect_uris, scopes, created_at, updated_at)
	VALUES ('cli-pub', 'dom-v1', 'pub', 'public', '["authorization_code"]', '["https://app.example/cb"]', '[]', 3, 4)`,
	`INSERT INTO clients (id, domain_id, name, type, grant_types, redirect_uris, scopes, created_at, updated_at, deleted_at)
	VALUES ('cli-gone', 'dom-v1', 'gone', 'confidential', '[]', '[]', '[]', 3, 4, 5)`,
}

// CheckV1Backfill checks what migration 2 made of V1Rows: the domain has
// DefaultDomainOAuth, confidential clients authenticate with HTTP Basic and
// public ones with none; everything else is as it was, and the migrated
// rows can be updated.
func CheckV1Backfill(t *testing.T, s store.Store) {
	t.Helper()
	ctx := t.Context()
	d, err := s.GetDomain(ctx, "dom-v1")
	must(t, "GetDomain", err)
	check(t, "migrated domain", d, watchword.Domain{
		ID: "dom-v1", Name: "v1",
		Policy: watchword.SecretPolicy{
			Expiry: watchword.Expiry{Unit: watchword.ExpiryNone}, MaxSecrets: 2,
			DefaultTransition: watchword.Duration(time.Hour), MaxTransition: watchword.Duration(24 * time.Hour),
			AllowCustom: true, MinCustomLength: 32,
		},
		OAuth:         watchword.DefaultDomainOAuth(),
		Notifications: watchword.DefaultNotificationSettings(), // migration 3
		CreatedAt:     time.UnixMicro(1).UTC(), UpdatedAt: time.UnixMicro(2).UTC(),
	})
	for _, tc := range []struct{ id, method string }{
		{"cli-conf", watchword.AuthMethodBasic},
		{"cli-pub", watchword.AuthMethodNone},
	} {
		c, err := s.GetClient(ctx, "dom-v1", tc.id)
		must(t, "GetClient("+tc.id+")", err)
		check(t, "OAuth of migrated client "+tc.id, c.OAuth, watchword.ClientOAuth{TokenEndpointAuthMethod: tc.method})
	}
	seed(t, s, func(tx store.Tx) error {
		c, err := tx.LockClient(ctx, "dom-v1", "cli-conf")
		if err != nil {
			return err
		}
		c.OAuth.TokenEndpointAuthMethod, c.OAuth.RequirePKCE = watchword.AuthMethodPost, ptr(true)
		if err := tx.UpdateClient(ctx, c); err != nil {
			return err
		}
		d.OAuth.AccessTokenAlg = watchword.AlgRS256
		return tx.UpdateDomain(ctx, d)
	})
	c, err := s.GetClient(ctx, "dom-v1", "cli-conf")
	must(t, "GetClient after update", err)
	check(t, "OAuth of updated client", c.OAuth,
		watchword.ClientOAuth{TokenEndpointAuthMethod: watchword.AuthMethodPost, RequirePKCE: ptr(true)})
	got, err := s.GetDomain(ctx, "dom-v1")
	must(t, "GetDomain after update", err)
	check(t, "OAuth of updated domain", got.OAuth, d.OAuth)
}
