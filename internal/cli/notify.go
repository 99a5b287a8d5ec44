package cli

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/lifecycle"
)

func notifyCommand() *cobra.Command {
	settings := group("settings", "Show or change the domain's owners and expiry-notice schedule",
		notifySettingsGetCommand(), notifySettingsSetCommand())
	channel := group("channel", "Manage the domain's notification channels (webhook, email)",
		channelListCommand(), channelGetCommand(), channelCreateCommand(), channelUpdateCommand(),
		channelEnableCommand("disable", true), channelEnableCommand("enable", false),
		channelDeleteCommand(), channelRotateSecretCommand())
	cmd := group("notify", "Notifications: channels, settings and the delivery log",
		settings, channel, notificationListCommand(), notificationGetCommand(), notificationRetryCommand())
	cmd.Long = `Watchword tells people and systems about the lifecycle of secrets: created,
rotated, revoked, expiring (at the domain's notice thresholds) and expired.
Each event goes to every channel of the domain that takes it: a webhook
signed as the Standard Webhooks specification says, or email to the domain's
owners and the client's contacts. Delivery is retried with back-off; 'notify
list' shows where each notification is.`
	return cmd
}

// ---- settings

func notifySettingsGetCommand() *cobra.Command {
	return command("get", "Show the domain's notification settings", func(s *session, cmd *cobra.Command, _ []string) error {
		n, err := s.api.GetNotificationSettings(cmd.Context(), s.domain)
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error { return settingsFields(w, n) })
	})
}

func notifySettingsSetCommand() *cobra.Command {
	var (
		owners     []string
		schedule   string
		thresholds []int
	)
	cmd := command("set", "Change the domain's notification settings", func(s *session, cmd *cobra.Command, _ []string) error {
		changed := cmd.Flags().Changed
		if !slices.ContainsFunc([]string{"owner", "schedule", "thresholds"}, changed) {
			return usageErrorf(cmd, "nothing to change: set at least one of --owner, --schedule, --thresholds")
		}
		n, err := s.api.GetNotificationSettings(cmd.Context(), s.domain)
		if err != nil {
			return err
		}
		if changed("owner") {
			n.Owners = nonEmpty(owners)
		}
		if changed("schedule") {
			n.ExpirySchedule = schedule
		}
		if changed("thresholds") {
			n.ExpiryThresholds = thresholds
		}
		if n, err = s.api.SetNotificationSettings(cmd.Context(), s.domain, n); err != nil {
			return err
		}
		return s.print(func(w io.Writer) error { return settingsFields(w, n) })
	})
	cmd.Long = `Change the domain's notification settings; only the flags given change.

--owner sets the people email channels write to (besides each client's
contacts); --owner '' clears them. --schedule is when upcoming-expiry notices
go out: a cron expression in UTC (default "0 5 * * *", daily at 05:00), or
"CRON_TZ=Europe/Paris 0 7 * * 1-5" for another zone. --thresholds are the days
before expiry at which each secret gets its notice, once per threshold.`
	f := cmd.Flags()
	f.StringSliceVar(&owners, "owner", nil, "owner email addresses (repeat or separate with commas)")
	f.StringVar(&schedule, "schedule", "", "cron schedule of the expiry notices, e.g. \"0 5 * * *\"")
	f.IntSliceVar(&thresholds, "thresholds", nil, "days before expiry at which notices go out, e.g. 20,15,10,5,1")
	return cmd
}

func settingsFields(w io.Writer, n watchword.NotificationSettings) error {
	days := make([]string, len(n.ExpiryThresholds))
	for i, d := range n.ExpiryThresholds {
		days[i] = strconv.Itoa(d)
	}
	return fields(w,
		[2]string{"Owners", strings.Join(n.Owners, ", ")},
		[2]string{"Expiry schedule", n.ExpirySchedule},
		[2]string{"Thresholds (days)", strings.Join(days, ", ")},
	)
}

// ---- channels

func channelListCommand() *cobra.Command {
	return command("list", "List the domain's notification channels", func(s *session, cmd *cobra.Command, _ []string) error {
		chs, err := s.api.ListChannels(cmd.Context(), s.domain)
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error {
			rows := make([][]string, 0, len(chs.Items))
			for _, ch := range chs.Items {
				rows = append(rows, []string{ch.Name, ch.ID, string(ch.Type), channelTarget(ch), channelEvents(ch), channelStatus(ch)})
			}
			return table(w, []string{"NAME", "ID", "TYPE", "TARGET", "EVENTS", "STATUS"}, rows)
		})
	})
}

func channelTarget(ch watchword.Channel) string {
	if ch.Type == watchword.ChannelEmail {
		return "owners and client contacts"
	}
	return ch.URL
}

func channelEvents(ch watchword.Channel) string {
	if len(ch.Events) == 0 {
		return "all"
	}
	return strings.Join(ch.Events, ",")
}

func channelStatus(ch watchword.Channel) string {
	if ch.Disabled {
		return "disabled"
	}
	return "enabled"
}

func channelFields(w io.Writer, ch watchword.Channel) error {
	kv := [][2]string{
		{"Name", ch.Name},
		{"ID", ch.ID},
		{"Type", string(ch.Type)},
		{"Target", channelTarget(ch)},
		{"Events", channelEvents(ch)},
		{"Status", channelStatus(ch)},
	}
	for i, ss := range ch.SigningSecrets {
		until := "current"
		if ss.ExpiresAt != nil {
			until = "signs until " + fmtTime(*ss.ExpiresAt)
		}
		label := ""
		if i == 0 {
			label = "Signing secrets"
		}
		kv = append(kv, [2]string{label, ss.ID + " " + hint(ss.Hint) + ", " + until})
	}
	kv = append(kv, [2]string{"Created", fmtTime(ch.CreatedAt)}, [2]string{"Updated", fmtTime(ch.UpdatedAt)})
	return fields(w, kv...)
}

func channelGetCommand() *cobra.Command {
	return command("get CHANNEL", "Show a notification channel", func(s *session, cmd *cobra.Command, args []string) error {
		ch, err := s.api.GetChannel(cmd.Context(), s.domain, args[0])
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error { return channelFields(w, ch) })
	})
}

// printSigningSecret shows a new signing secret, this once.
func printSigningSecret(w io.Writer, res lifecycle.ChannelCreated) {
	if res.SigningSecretRedacted {
		printRedacted(w, "Signing secret", "If it was not stored, rotate the channel's signing secret.")
		return
	}
	secret := res.SigningSecret
	if secret == "" {
		return
	}
	fmt.Fprintf(w, "\nSigning secret (shown only now; give it to the receiver to verify webhook-signature):\n\n    %s\n", secret)
}

func channelCreateCommand() *cobra.Command {
	var (
		in         lifecycle.ChannelCreate
		typ        string
		fromStdin  bool
		eventsFlag []string
	)
	cmd := command("create NAME", "Add a notification channel", func(s *session, cmd *cobra.Command, args []string) error {
		in.Name, in.Type, in.Events = args[0], watchword.ChannelType(typ), nonEmpty(eventsFlag)
		if fromStdin {
			v, err := readSecretValue(cmd)
			if err != nil {
				return err
			}
			in.SigningSecret = v
		}
		res, err := s.api.CreateChannel(cmd.Context(), s.domain, in)
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error {
			fmt.Fprintf(w, "Created %s channel %s (ID %s) in domain %s.\n\n", res.Channel.Type, clean(res.Channel.Name), res.Channel.ID, s.domain)
			if err := channelFields(w, res.Channel); err != nil {
				return err
			}
			printSigningSecret(w, res)
			return nil
		})
	})
	cmd.Long = `Add a notification channel to the domain of --domain.

A webhook channel (--type webhook --url URL) POSTs each event as JSON, signed
as the Standard Webhooks specification says with a signing secret that is
generated and printed this once (or read with --signing-secret-stdin, in the
whsec_<base64> form). An email channel (--type email) mails each event to the
domain's owners ('watchword notify settings set --owner') and the client's
contacts ('watchword client update --contact'); it needs the server's SMTP
settings. --event limits the channel to some event types: secret.created,
secret.rotated, secret.revoked, secret.expiring, secret.expired,
secret.still_in_use, rotation.started, rotation.completed, rotation.failed,
rotation.rolled_back.`
	f := cmd.Flags()
	f.StringVar(&typ, "type", string(watchword.ChannelWebhook), "webhook or email")
	f.StringVar(&in.URL, "url", "", "where a webhook channel POSTs (use https)")
	f.StringSliceVar(&eventsFlag, "event", nil, "event types the channel takes (repeat or separate with commas; default all)")
	f.BoolVar(&fromStdin, "signing-secret-stdin", false, "read the webhook signing secret (whsec_…) from standard input instead of generating one")
	return cmd
}

func channelUpdateCommand() *cobra.Command {
	var (
		name, url  string
		eventsFlag []string
	)
	cmd := command("update CHANNEL", "Change a notification channel", func(s *session, cmd *cobra.Command, args []string) error {
		var u watchword.ChannelUpdate
		changed := cmd.Flags().Changed
		if changed("name") {
			u.Name = &name
		}
		if changed("url") {
			u.URL = &url
		}
		if changed("event") {
			ev := nonEmpty(eventsFlag)
			u.Events = &ev
		}
		if !slices.ContainsFunc([]string{"name", "url", "event"}, changed) {
			return usageErrorf(cmd, "nothing to change: set at least one of --name, --url, --event")
		}
		ch, err := s.api.UpdateChannel(cmd.Context(), s.domain, args[0], u)
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error { return channelFields(w, ch) })
	})
	cmd.Long = `Change a channel. Only the flags given change; --event '' makes the channel
take every event type. Pending notifications go out with the channel as it is
at each attempt.`
	f := cmd.Flags()
	f.StringVar(&name, "name", "", "new name")
	f.StringVar(&url, "url", "", "new URL of a webhook channel")
	f.StringSliceVar(&eventsFlag, "event", nil, "event types the channel takes (replaces the list)")
	return cmd
}

func channelEnableCommand(verb string, disable bool) *cobra.Command {
	short := "Enable a disabled channel"
	if disable {
		short = "Disable a channel: it takes no new events, and pending ones to it fail"
	}
	return command(verb+" CHANNEL", short, func(s *session, cmd *cobra.Command, args []string) error {
		ch, err := s.api.UpdateChannel(cmd.Context(), s.domain, args[0], watchword.ChannelUpdate{Disabled: &disable})
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "Channel %s is %s.\n", clean(ch.Name), channelStatus(ch))
			return err
		})
	})
}

func channelDeleteCommand() *cobra.Command {
	return command("delete CHANNEL", "Delete a notification channel", func(s *session, cmd *cobra.Command, args []string) error {
		if err := s.api.DeleteChannel(cmd.Context(), s.domain, args[0]); err != nil {
			return err
		}
		return s.print(func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "Deleted channel %s; its delivery history stays.\n", clean(args[0]))
			return err
		})
	})
}

func channelRotateSecretCommand() *cobra.Command {
	var (
		grace     graceFlag
		fromStdin bool
	)
	cmd := command("rotate-secret CHANNEL", "Give a webhook channel a new signing secret", func(s *session, cmd *cobra.Command, args []string) error {
		var in lifecycle.SigningSecretRotate
		var err error
		if in.Transition, err = grace.transition(cmd); err != nil {
			return err
		}
		if fromStdin {
			if in.Value, err = readSecretValue(cmd); err != nil {
				return err
			}
		}
		res, err := s.api.RotateChannelSecret(cmd.Context(), s.domain, args[0], in)
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error {
			fmt.Fprintf(w, "Rotated the signing secret of channel %s.\n\n", clean(res.Channel.Name))
			if err := channelFields(w, res.Channel); err != nil {
				return err
			}
			printSigningSecret(w, res)
			return nil
		})
	})
	cmd.Long = `Give a webhook channel a new signing secret. The current secrets keep signing
for the grace period (default 24h), so that meanwhile webhook-signature holds
one signature per secret and the receiver can switch to the new one at its own
pace.`
	cmd.Flags().StringVar(&grace.value, "grace", "", "how long the current signing secrets keep signing, e.g. 24h, 7d; 0 stops them at once (default 24h)")
	cmd.Flags().BoolVar(&fromStdin, "signing-secret-stdin", false, "read the new signing secret (whsec_…) from standard input instead of generating one")
	return cmd
}

// ---- the delivery log

func notificationListCommand() *cobra.Command {
	var (
		f      watchword.NotificationFilter
		status string
	)
	cmd := command("list", "List notifications and their delivery state, newest first", func(s *session, cmd *cobra.Command, _ []string) error {
		f.Status = watchword.NotificationStatus(status)
		ns, err := s.api.ListNotifications(cmd.Context(), s.domain, f)
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error {
			rows := make([][]string, 0, len(ns.Items))
			for _, n := range ns.Items {
				rows = append(rows, []string{n.ID, n.EventType, n.Event.Data.Client.Name, hint(n.Event.Data.Secret.Hint), n.ChannelID,
					string(n.Status), strconv.Itoa(n.Attempts), notificationWhen(n), n.LastError})
			}
			if err := table(w, []string{"ID", "EVENT", "CLIENT", "SECRET", "CHANNEL", "STATUS", "ATTEMPTS", "WHEN", "LAST ERROR"}, rows); err != nil {
				return err
			}
			morePages(cmd, ns.Offset, len(ns.Items), ns.Total)
			return nil
		})
	})
	fl := cmd.Flags()
	fl.StringVar(&status, "status", "", "only pending, delivered or failed notifications")
	fl.StringVar(&f.EventType, "event", "", "only events of this type, e.g. secret.expiring")
	fl.StringVar(&f.ChannelID, "channel", "", "only notifications to this channel (id or name)")
	fl.StringVar(&f.ClientID, "client", "", "only notifications about this client (id or name)")
	fl.StringVar(&f.SecretID, "secret", "", "only notifications about this secret (id)")
	pageFlags(cmd, &f.Offset, &f.Limit)
	return cmd
}

// notificationWhen is the time that matters for the state: delivered at,
// next attempt at, or last attempt at.
func notificationWhen(n watchword.Notification) string {
	switch {
	case n.Status == watchword.NotificationDelivered && n.DeliveredAt != nil:
		return fmtTime(*n.DeliveredAt)
	case n.Status == watchword.NotificationPending:
		return "next " + fmtTime(n.NextAttemptAt)
	}
	return fmtTimeOr(n.LastAttemptAt, "-")
}

func notificationFields(w io.Writer, n watchword.Notification) error {
	d := n.Event.Data
	secret, expires, lastUsed := "none", "-", "-"
	if d.Secret.ID != "" { // a run that failed before creating its secret has none
		secret = d.Secret.ID + " " + hint(d.Secret.Hint)
		expires, lastUsed = fmtTimeOr(d.Secret.ExpiresAt, "never"), fmtTimeOr(d.Secret.LastUsedAt, "never")
	}
	return fields(w,
		[2]string{"ID", n.ID},
		[2]string{"Event", n.EventID + " (" + n.EventType + ")"},
		[2]string{"Client", d.Client.Name + " (" + d.Client.ID + ")"},
		[2]string{"Secret", secret},
		[2]string{"Expires", expires},
		[2]string{"Last used", lastUsed},
		[2]string{"By", d.Actor},
		[2]string{"Channel", n.ChannelID + " (" + string(n.ChannelType) + ")"},
		[2]string{"Recipients", strings.Join(n.Recipients, ", ")},
		[2]string{"Status", string(n.Status)},
		[2]string{"Attempts", strconv.Itoa(n.Attempts)},
		[2]string{"Next attempt", notificationNext(n)},
		[2]string{"Last attempt", fmtTimeOr(n.LastAttemptAt, "-")},
		[2]string{"Last error", n.LastError},
		[2]string{"Delivered", fmtTimeOr(n.DeliveredAt, "-")},
		[2]string{"Created", fmtTime(n.CreatedAt)},
	)
}

func notificationNext(n watchword.Notification) string {
	if n.Status != watchword.NotificationPending {
		return "-"
	}
	return fmtTime(n.NextAttemptAt)
}

func notificationGetCommand() *cobra.Command {
	return command("get ID", "Show a notification and its delivery state", func(s *session, cmd *cobra.Command, args []string) error {
		n, err := s.api.GetNotification(cmd.Context(), s.domain, args[0])
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error { return notificationFields(w, n) })
	})
}

func notificationRetryCommand() *cobra.Command {
	return command("retry ID", "Send a failed notification again", func(s *session, cmd *cobra.Command, args []string) error {
		n, err := s.api.RetryNotification(cmd.Context(), s.domain, args[0])
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "Notification %s is pending again, with a fresh budget of attempts.\n", n.ID)
			return err
		})
	})
}
