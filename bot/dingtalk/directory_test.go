package dingtalk_test

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/armsbot/armsbot/bot/dingtalk"
	"github.com/armsbot/armsbot/bot/dingtalk/dingtalktest"
	"github.com/armsbot/armsbot/commands"
)

// The directory as DingTalk answers it, in the documented error forms and
// in the ones the oapi host sends in practice (errcode 88 with a sub_code,
// 33012 for an unknown user): a person, the oapi host's own token (fetched
// once, fetched again when revoked), a missing permission named, a user
// that does not exist.
func TestDirectory(t *testing.T) {
	for _, documented := range []bool{true, false} {
		t.Run(map[bool]string{true: "documented forms", false: "real forms"}[documented], func(t *testing.T) {
			gw := newGateway(t)
			gw.DocumentedErrorForms(documented)
			gw.SetPerson("u1", dingtalktest.Person{Name: "张三", Mobile: "13755556666", StateCode: "86", OrgEmail: "zs@corp.example"})
			d := dingtalk.NewDirectory(gw.URL, streamKey, streamSecret, http.DefaultClient, time.Now)
			ctx := t.Context()

			p, err := d.Person(ctx, "u1")
			if want := (commands.Person{Name: "张三", Mobile: "13755556666", StateCode: "86", Email: "zs@corp.example"}); err != nil || !reflect.DeepEqual(p, want) {
				t.Fatalf("Person = %+v, %v", p, err)
			}
			if _, err := d.Person(ctx, "u1"); err != nil || gw.TokensIssued() != 1 {
				t.Errorf("a second lookup: %v, %d tokens fetched (want the cached one)", err, gw.TokensIssued())
			}
			gw.RevokeTokens()
			if _, err := d.Person(ctx, "u1"); err != nil || gw.TokensIssued() != 2 {
				t.Errorf("after the token was revoked: %v, %d tokens", err, gw.TokensIssued())
			}

			var de commands.DirectoryError
			_, err = d.Person(ctx, "nobody")
			if !errors.As(err, &de) || !de.NotFound() {
				t.Errorf("an unknown user: %v", err)
			}
			gw.DenyDirectory("qyapi_get_member")
			_, err = d.Person(ctx, "u1")
			if !errors.As(err, &de) || de.Permission() != "qyapi_get_member" {
				t.Errorf("without the permission: %v", err)
			}
			if _, err := dingtalk.NewDirectory(gw.URL, "", "", http.DefaultClient, time.Now).Person(ctx, "u1"); !errors.As(err, &de) || !de.Unconfigured() || de.Permission() != "" {
				t.Errorf("without an app key: %v", err)
			}
			bad := dingtalk.NewDirectory(gw.URL, streamKey, "wrong", http.DefaultClient, time.Now)
			if _, err := bad.Person(ctx, "u1"); err == nil || strings.Contains(err.Error(), "wrong") || strings.Contains(err.Error(), streamSecret) {
				t.Errorf("with a wrong secret: %v", err)
			}
		})
	}
}

// Without the field permissions DingTalk leaves mobile and email out of
// its answer: the person says which were withheld, and for want of which
// permission, rather than that they have none.
func TestDirectoryWithheldFields(t *testing.T) {
	gw := newGateway(t)
	gw.SetPerson("u1", dingtalktest.Person{Name: "张三", Mobile: "13755556666", Email: "zs@example.com"})
	gw.SetPerson("u2", dingtalktest.Person{Name: "李四"})
	d := dingtalk.NewDirectory(gw.URL, streamKey, streamSecret, http.DefaultClient, time.Now)
	if p, err := d.Person(t.Context(), "u2"); err != nil || len(p.Withheld) != 0 {
		t.Errorf("a person with no mobile or email: %+v, %v; nothing was withheld", p, err)
	}
	gw.WithholdFields("mobile", "email")
	p, err := d.Person(t.Context(), "u1")
	if err != nil || p.Mobile != "" || p.Email != "" || len(p.Withheld) != 2 || p.Withheld[0].Field != "mobile" || p.Withheld[1].Field != "email" ||
		p.Withheld[0].Permission == "" || p.Withheld[1].Permission == "" {
		t.Errorf("Person = %+v, %v; want mobile and email withheld, with their permissions", p, err)
	}
}
