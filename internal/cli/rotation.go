package cli

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/lifecycle"
)

// ---- automated rotation: schedules and runs

func rotationCommand() *cobra.Command {
	schedule := group("schedule", "Show or change when secrets rotate on their own",
		scheduleGetCommand(), scheduleSetCommand(), scheduleOffCommand(), scheduleInheritCommand())
	cmd := group("rotation", "Automated, staged rotation: schedules and runs",
		schedule, runStartCommand(), runListCommand(), runShowCommand(), runRetryCommand(), runCancelCommand())
	cmd.Long = `Automated rotation replaces a client's secret in stages: a run creates a
pending secret, delivers it to the client's delivery targets ('watchword
target'), tests it, promotes it, and after the transition period revokes the
secret it replaced. If a step keeps failing, the run rolls back.

A run starts when the client's schedule says so (the domain's schedule,
unless the client has its own) or now with 'watchword rotation start CLIENT'.
The server carries runs out in the background; 'watchword rotation show'
follows one.`
	return cmd
}

// fmtSpan shows a duration with whole days first, as it may be typed:
// "30d", "1d12h", "90m".
func fmtSpan(d watchword.Duration) string {
	const day = 24 * time.Hour
	v := time.Duration(d)
	if v < day {
		return fmtDuration(v)
	}
	s := strconv.FormatInt(int64(v/day), 10) + "d"
	if rest := v % day; rest != 0 {
		s += fmtDuration(rest)
	}
	return s
}

func scheduleFields(sc watchword.RotationSchedule) [][2]string {
	when := "not on its own (only 'watchword rotation start')"
	switch {
	case sc.Every > 0:
		when = "every " + fmtSpan(sc.Every) + " after the latest run"
	case sc.Cron != "":
		when = "cron " + sc.Cron + " (UTC)"
	}
	transition := "the secret policy's default"
	if sc.Transition != nil {
		transition = fmtSpan(*sc.Transition)
	}
	inUse := fmtSpan(watchword.Duration(sc.InUseWindow()))
	if sc.StillInUseWindow == 0 {
		inUse += " (default)"
	}
	finish := "at the end of the transition"
	if sc.FinishWhenUnusedFor > 0 {
		finish = "early, once the old secret is unused for " + fmtSpan(sc.FinishWhenUnusedFor)
	}
	return [][2]string{
		{"Rotates", when},
		{"Transition", transition},
		{"Still-in-use window", inUse},
		{"Finish", finish},
		{"Check URL", sc.CheckURL},
	}
}

// scheduleBlock writes a titled, indented description of a schedule.
func scheduleBlock(w io.Writer, title string, sc watchword.RotationSchedule, extra ...[2]string) error {
	if _, err := fmt.Fprintf(w, "%s:\n", title); err != nil {
		return err
	}
	kv := append(scheduleFields(sc), extra...)
	for i := range kv {
		kv[i][0] = "  " + kv[i][0]
	}
	return fields(w, kv...)
}

func clientScheduleBlock(w io.Writer, client string, cr lifecycle.ClientRotation) error {
	source := "the domain's schedule"
	switch {
	case !cr.UseDomainSchedule && !cr.Effective.Scheduled():
		source = "its own schedule: off"
	case !cr.UseDomainSchedule:
		source = "its own schedule"
	}
	next := "none"
	if cr.NextRunAt != nil {
		next = fmtTime(*cr.NextRunAt)
	}
	return scheduleBlock(w, fmt.Sprintf("Rotation schedule of client %s (%s)", client, source), cr.Effective, [2]string{"Next run", next})
}

func scheduleGetCommand() *cobra.Command {
	cmd := command("get [CLIENT]", "Show the domain's or a client's rotation schedule", func(s *session, cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			sc, err := s.api.GetDomainRotation(cmd.Context(), s.domain)
			if err != nil {
				return err
			}
			return s.print(func(w io.Writer) error { return scheduleBlock(w, "Rotation schedule of domain "+s.domain, sc) })
		}
		cr, err := s.api.GetClientRotation(cmd.Context(), s.domain, args[0])
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error { return clientScheduleBlock(w, args[0], cr) })
	})
	cmd.Long = `Show the rotation schedule of the domain of --domain or, given CLIENT, the
schedule in effect for that client, whether it is the domain's or its own,
and when it next starts a run.`
	return cmd
}

// scheduleFlags are the flags of 'rotation schedule set'; each given one
// changes one field of the current schedule.
type scheduleFlags struct {
	every, cron, transition, inUse, finish, checkURL string
}

var scheduleFlagNames = []string{"every", "cron", "transition", "still-in-use-window", "finish-when-unused-for", "check-url"}

func (sf *scheduleFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&sf.every, "every", "", "rotate this long after the latest run, e.g. 30d, 12h (replaces --cron; 0 for neither)")
	f.StringVar(&sf.cron, "cron", "", "rotate at these times: a cron expression in UTC, e.g. \"0 3 * * 1\" or @weekly (replaces --every)")
	f.StringVar(&sf.transition, "transition", "", "how long the old secret keeps working after the new one is promoted, e.g. 24h; '' for the secret policy's default")
	f.StringVar(&sf.inUse, "still-in-use-window", "", "warn (secret.still_in_use) if the old secret was used this recently before its transition ends (default 15m)")
	f.StringVar(&sf.finish, "finish-when-unused-for", "", "end the transition early once the old secret is unused for this long; 0 waits for its end")
	f.StringVar(&sf.checkURL, "check-url", "", "URL the run's test step fetches; any 2xx passes ('' for none)")
}

// patch reads the flags given and returns what changes their fields of a
// schedule; it fails on a bad flag before any request is made.
func (sf *scheduleFlags) patch(cmd *cobra.Command) (func(*watchword.RotationSchedule), error) {
	changed := cmd.Flags().Changed
	if !slices.ContainsFunc(scheduleFlagNames, changed) {
		return nil, usageErrorf(cmd, "nothing to change: set at least one of --every, --cron, --transition, --still-in-use-window, --finish-when-unused-for, --check-url")
	}
	if changed("every") && changed("cron") {
		return nil, usageErrorf(cmd, "--every and --cron exclude each other: a schedule has one or the other")
	}
	var (
		fns  []func(*watchword.RotationSchedule)
		errs []error
	)
	duration := func(flag, v string, set func(*watchword.RotationSchedule, watchword.Duration)) {
		if !changed(flag) {
			return
		}
		d, err := parseDuration(v)
		if err != nil {
			errs = append(errs, usageErrorf(cmd, "--%s: %v", flag, err))
			return
		}
		fns = append(fns, func(sc *watchword.RotationSchedule) { set(sc, watchword.Duration(d)) })
	}
	duration("every", sf.every, func(sc *watchword.RotationSchedule, d watchword.Duration) { sc.Every, sc.Cron = d, "" })
	if changed("cron") {
		cron := strings.TrimSpace(sf.cron)
		fns = append(fns, func(sc *watchword.RotationSchedule) { sc.Cron, sc.Every = cron, 0 })
	}
	if changed("transition") && strings.TrimSpace(sf.transition) == "" {
		fns = append(fns, func(sc *watchword.RotationSchedule) { sc.Transition = nil })
	} else {
		duration("transition", sf.transition, func(sc *watchword.RotationSchedule, d watchword.Duration) { sc.Transition = &d })
	}
	duration("still-in-use-window", sf.inUse, func(sc *watchword.RotationSchedule, d watchword.Duration) { sc.StillInUseWindow = d })
	duration("finish-when-unused-for", sf.finish, func(sc *watchword.RotationSchedule, d watchword.Duration) { sc.FinishWhenUnusedFor = d })
	if changed("check-url") {
		u := strings.TrimSpace(sf.checkURL)
		fns = append(fns, func(sc *watchword.RotationSchedule) { sc.CheckURL = u })
	}
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return func(sc *watchword.RotationSchedule) {
		for _, f := range fns {
			f(sc)
		}
	}, nil
}

func scheduleSetCommand() *cobra.Command {
	var sf scheduleFlags
	cmd := command("set [CLIENT]", "Change the domain's or a client's rotation schedule", func(s *session, cmd *cobra.Command, args []string) error {
		ctx, client := cmd.Context(), optionalArg(args)
		apply, err := sf.patch(cmd)
		if err != nil {
			return err
		}
		var sc watchword.RotationSchedule
		if client == "" {
			sc, err = s.api.GetDomainRotation(ctx, s.domain)
		} else {
			var cr lifecycle.ClientRotation
			cr, err = s.api.GetClientRotation(ctx, s.domain, client)
			sc = cr.Effective
		}
		if err != nil {
			return err
		}
		apply(&sc)
		if client == "" {
			if sc, err = s.api.SetDomainRotation(ctx, s.domain, sc); err != nil {
				return err
			}
			return s.print(func(w io.Writer) error { return scheduleBlock(w, "Rotation schedule of domain "+s.domain, sc) })
		}
		cr, err := s.api.SetClientRotation(ctx, s.domain, client, sc)
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error { return clientScheduleBlock(w, client, cr) })
	})
	cmd.Long = `Change the rotation schedule of the domain of --domain (which its clients
inherit) or, given CLIENT, of that client. The current schedule is read (for
a client, the one in effect), the fields of the flags given are changed, and
the result is written back: a client that used the domain's schedule gets its
own this way; 'watchword rotation schedule inherit CLIENT' returns it to the
domain's.

--every counts from the start of the client's latest run; --cron names times
in UTC. Their runs must be at least the server's minimum interval apart (1h
by default). Durations are such as 90m, 24h or 30d.`
	cmd.Example = `  watchword rotation schedule set --every 30d --transition 24h
  watchword rotation schedule set billing-api --cron "0 3 * * 1" --finish-when-unused-for 2h
  watchword rotation schedule set billing-api --check-url https://billing.example/healthz`
	sf.add(cmd)
	return cmd
}

func scheduleOffCommand() *cobra.Command {
	cmd := command("off CLIENT", "Stop a client's secrets from rotating on their own", func(s *session, cmd *cobra.Command, args []string) error {
		cr, err := s.api.SetClientRotation(cmd.Context(), s.domain, args[0], watchword.RotationSchedule{})
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error { return clientScheduleBlock(w, args[0], cr) })
	})
	cmd.Long = `Give the client an empty schedule of its own: its secrets no longer rotate on
their own, whatever the domain's schedule says. 'watchword rotation start'
still starts a run. 'watchword rotation schedule inherit CLIENT' undoes it.`
	return cmd
}

func scheduleInheritCommand() *cobra.Command {
	cmd := command("inherit CLIENT", "Make a client use the domain's rotation schedule again", func(s *session, cmd *cobra.Command, args []string) error {
		cr, err := s.api.DeleteClientRotation(cmd.Context(), s.domain, args[0])
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error { return clientScheduleBlock(w, args[0], cr) })
	})
	cmd.Aliases = []string{"use-domain"}
	return cmd
}

func runStatus(r watchword.RotationRun) string {
	if r.Status == watchword.RunRunning && r.CancelRequested {
		return "cancelling"
	}
	return string(r.Status)
}

// runNote is the reason a run ended, or its last error while running.
func runNote(r watchword.RotationRun) string {
	if r.Reason != "" {
		return r.Reason
	}
	return r.LastError
}

func runStartCommand() *cobra.Command {
	cmd := command("start CLIENT", "Rotate a client's secret now, in stages", func(s *session, cmd *cobra.Command, args []string) error {
		run, err := s.api.StartRotation(cmd.Context(), s.domain, args[0])
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "Started rotation run %s of client %s.\nThe server carries it out in the background; follow it with 'watchword rotation show %s %s'.\n",
				run.ID, clean(args[0]), clean(args[0]), run.ID)
			return err
		})
	})
	cmd.Long = `Start an automated rotation run of the client now, with the schedule in
effect for its transition and checks: create a pending secret, deliver it to
the client's targets, test it, promote it, and revoke the old secret when the
transition ends. A client has at most one run in progress.

Unlike 'watchword client rotate', the new secret is never printed: it goes to
the delivery targets ('watchword target add').`
	return cmd
}

func runListCommand() *cobra.Command {
	var offset, limit int
	cmd := command("runs CLIENT", "List a client's rotation runs, newest first", func(s *session, cmd *cobra.Command, args []string) error {
		rs, err := s.api.ListRotationRuns(cmd.Context(), s.domain, args[0], offset, limit)
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error {
			rows := make([][]string, 0, len(rs.Items))
			for _, r := range rs.Items {
				rows = append(rows, []string{r.ID, runStatus(r), string(r.Step), r.Trigger, r.InitiatedBy,
					fmtTime(r.CreatedAt), fmtTimeOr(r.FinishedAt, "-"), runNote(r)})
			}
			if err := table(w, []string{"ID", "STATUS", "STEP", "TRIGGER", "INITIATED BY", "STARTED", "FINISHED", "NOTE"}, rows); err != nil {
				return err
			}
			morePages(cmd, rs.Offset, len(rs.Items), rs.Total)
			return nil
		})
	})
	cmd.Aliases = []string{"list"}
	pageFlags(cmd, &offset, &limit)
	return cmd
}

func runFields(w io.Writer, r watchword.RotationRun) error {
	kv := [][2]string{
		{"ID", r.ID},
		{"Client ID", r.ClientID},
		{"Status", runStatus(r)},
		{"Step", string(r.Step)},
		{"Trigger", r.Trigger + " by " + r.InitiatedBy},
	}
	if r.Status == watchword.RunRunning {
		kv = append(kv, [2]string{"Next attempt", fmtTime(r.NextAttemptAt)}, [2]string{"Failed attempts", strconv.Itoa(r.Attempts)})
	}
	kv = append(kv,
		[2]string{"Last error", r.LastError},
		[2]string{"Reason", r.Reason},
		[2]string{"Pending secret", r.PendingSecretID},
		[2]string{"Previous secrets", strings.Join(r.PreviousSecretIDs, ", ")},
		[2]string{"Delivered", fmtTimeOr(r.DeliveredAt, "-")},
		[2]string{"Promoted", fmtTimeOr(r.PromotedAt, "-")},
		[2]string{"Transition ends", fmtTimeOr(r.TransitionEnd, "-")},
		[2]string{"Started", fmtTime(r.CreatedAt)},
		[2]string{"Finished", fmtTimeOr(r.FinishedAt, "-")},
	)
	if err := fields(w, kv...); err != nil {
		return err
	}
	if _, err := fmt.Fprintln(w, "\nSteps:"); err != nil {
		return err
	}
	rows := make([][]string, 0, len(r.Steps))
	for _, st := range r.Steps {
		rows = append(rows, []string{fmtTime(st.At), string(st.Step), st.Outcome, st.Detail})
	}
	return table(w, []string{"TIME", "STEP", "OUTCOME", "DETAIL"}, rows)
}

func runShowCommand() *cobra.Command {
	cmd := command("show CLIENT RUN", "Show a rotation run and its steps", func(s *session, cmd *cobra.Command, args []string) error {
		r, err := s.api.GetRotationRun(cmd.Context(), s.domain, args[0], args[1])
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error { return runFields(w, r) })
	})
	cmd.Aliases = []string{"get"}
	return cmd
}

func runRetryCommand() *cobra.Command {
	cmd := command("retry CLIENT RUN", "Start a failed run again, or retry a waiting step now", func(s *session, cmd *cobra.Command, args []string) error {
		r, err := s.api.RetryRotationRun(cmd.Context(), s.domain, args[0], args[1])
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "Rotation run %s of client %s is %s again at step %s.\n", r.ID, clean(args[0]), runStatus(r), r.Step)
			return err
		})
	})
	cmd.Long = `Retry a rotation run: a failed run starts again from its first step, with the
client's current schedule; a running run that waits to retry a step tries it
now.`
	return cmd
}

func runCancelCommand() *cobra.Command {
	var reason string
	cmd := command("cancel CLIENT RUN", "Stop a running rotation run", func(s *session, cmd *cobra.Command, args []string) error {
		r, err := s.api.CancelRotationRun(cmd.Context(), s.domain, args[0], args[1], reason)
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "Asked rotation run %s of client %s to stop; it does so at its next step.\n", r.ID, clean(args[0]))
			return err
		})
	})
	cmd.Long = `Cancel a running rotation run. The server stops it at its next step: before
the new secret is promoted the run rolls back (the pending secret is revoked
and the delivery targets are told); after, it stops waiting, and the old
secret still stops working at the end of its transition period.`
	cmd.Flags().StringVar(&reason, "reason", "", "why the run is cancelled (recorded in the run and the audit log)")
	return cmd
}
