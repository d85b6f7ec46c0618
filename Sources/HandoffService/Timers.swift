import Foundation
import HandoffCore
import HandoffStore
import Timestamps

extension Engine {
    /// The actor that timer events record.
    public static let schedulerActor = "scheduler"

    /// Fires the timer `timerId` of an onboarding (a timer step's, or a wait step's timeout), as the scheduler
    /// does when it falls due. Idempotent: the command id is the timer's own, so a second fire of the same timer
    /// (by another scheduler, after a crash) answers as the first did and writes nothing. Throws `invalid_input`
    /// before its due time by the engine's clock, `not_found` when no such timer is pending,
    /// `onboarding_not_active`.
    public func fireTimer(onboardingId: String, timerId: String) async throws(EngineError) -> OnboardingView {
        let request = TimerRequest(onboardingId: onboardingId, timerId: timerId)
        let commandId = "timer-" + Hex.sha256(Data((onboardingId + "\u{0}" + timerId).utf8))
        return try await perform(kind: "timer", commandId: commandId, request: request, stream: onboardingId) { context in
            let loaded = try context.load(onboardingId)
            let applied = try context.apply(loaded, command: .fireTimer(timerId: timerId), actor: Self.schedulerActor)
            return (Rows.view(applied.folded), applied)
        }
    }

    /// One pass of the scheduler: leases up to `limit` onboardings with a timer due by the engine's clock (earliest
    /// first, skipping those another scheduler holds) and fires each one's due timers in due order, up to
    /// `concurrency` onboardings at once (each onboarding's timers one after another). Returns how many
    /// onboardings it leased, so a caller that got `limit` knows more may be due.
    ///
    /// Exactly once across processes: a timer fires only while it is pending in its stream, decided under the
    /// stream lock and appended with the expected version, and its command id makes a repeated fire a no-op; the
    /// lease only keeps schedulers from doing the same work twice. A timer racing a person's command on the same
    /// onboarding has one winner, and the loser is decided again on the new state (where the timer, or the step
    /// it timed, may be gone).
    public func fireDueTimers(limit: Int = 100, leaseSeconds: Double = 30, concurrency: Int = 4)
        async throws(EngineError) -> Int
    {
        // To the millisecond, as the interpreter decides and the database stores: a timer due at this very
        // millisecond is due in both.
        let now = Timestamp.normalized(clock())
        let due = try await read { connection in
            try TimerSchedule.lease(on: connection, now: now, limit: limit, lease: leaseSeconds)
        }
        // Earliest first: the lease returns onboardings by their next due time, and a new one starts only as an
        // earlier one finishes.
        let failure = await withTaskGroup(of: EngineError?.self) { group -> EngineError? in
            var first: EngineError?
            for (index, onboarding) in due.enumerated() {
                if index >= max(1, concurrency), let failed = await group.next() { first = first ?? failed }
                group.addTask { await self.fireDue(onboarding, now: now) }
            }
            for await failed in group { first = first ?? failed }
            return first
        }
        if let failure { throw failure }
        // One round trip for the whole batch; a pass that threw leaves its leases to run out.
        let leased = due.map(\.onboardingId)
        try await read { connection in try TimerSchedule.release(on: connection, leased) }
        return due.count
    }

    /// Fires one leased onboarding's timers due at `now`, in due order; the error that stopped it, if any.
    private func fireDue(_ onboarding: TimerSchedule.Due, now: Date) async -> EngineError? {
        let timers: [OnboardingView.TimerSummary]
        do {
            timers = try StoredJSON.decoder.decode([OnboardingView.TimerSummary].self, from: Data(onboarding.timers.utf8))
        } catch {
            return EngineError(.internal, "the timers of onboarding '\(onboarding.onboardingId)' can't be read: \(error)")
        }
        for timer in timers.sorted(by: { ($0.dueAt, $0.id) < ($1.dueAt, $1.id) }) where timer.dueAt <= now {
            do {
                _ = try await fireTimer(onboardingId: onboarding.onboardingId, timerId: timer.id)
            } catch {
                // Fired meanwhile by a person's command moving the flow on, or the onboarding ended: nothing to do.
                guard error.code == .notFound || error.code == .onboardingNotActive else { return error }
            }
        }
        return nil
    }

    /// How many onboardings have a timer due now and not yet fired, and the earliest due time.
    public func timerBacklog() async throws(EngineError) -> (onboardings: Int, earliest: Date?) {
        let now = clock()
        let backlog = try await read { connection in try TimerSchedule.backlog(on: connection, now: now) }
        return (backlog.count, backlog.earliest)
    }
}
