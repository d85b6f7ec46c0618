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
        let write = Self.timerWrite(onboardingId: onboardingId, timerId: timerId)
        return try await perform(kind: "timer", commandId: write.commandId, request: write.request, stream: onboardingId, write.body)
    }

    /// The write that fires one timer, under a command id that is the timer's own.
    static func timerWrite(onboardingId: String, timerId: String) -> StreamWrite<OnboardingView, TimerRequest> {
        StreamWrite(
            commandId: "timer-" + Hex.sha256(Data((onboardingId + "\u{0}" + timerId).utf8)),
            request: TimerRequest(onboardingId: onboardingId, timerId: timerId), stream: onboardingId
        ) { context in
            let loaded = try await context.load(onboardingId)
            let applied = try context.apply(loaded, command: .fireTimer(timerId: timerId), actor: Self.schedulerActor)
            return (Rows.view(applied.folded), applied)
        }
    }

    /// One pass of the scheduler: leases up to `limit` onboardings with a timer due by the engine's clock (earliest
    /// first, skipping those another scheduler holds) and fires their due timers, in `concurrency` lanes at once.
    /// Each lane fires its share in due order, as many onboardings' timers at a time as it can in one transaction
    /// (one timer per onboarding in each, so that an onboarding's timers fire one after another). Returns how many
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
        // Lane i takes the i-th, (i + lanes)-th, … onboarding: every lane starts with the earliest due.
        let lanes = max(1, min(concurrency, due.count))
        let failure = await withTaskGroup(of: EngineError?.self) { group -> EngineError? in
            for lane in 0..<lanes {
                let share = stride(from: lane, to: due.count, by: lanes).map { due[$0] }
                group.addTask { await self.fireDue(share, now: now) }
            }
            var first: EngineError?
            for await failed in group { first = first ?? failed }
            return first
        }
        if let failure { throw failure }
        // One round trip for the whole batch; a pass that threw leaves its leases to run out.
        let leased = due.map(\.onboardingId)
        try await read { connection in try TimerSchedule.release(on: connection, leased) }
        return due.count
    }

    /// Fires the timers of leased onboardings due at `now`, in due order, in as few transactions as keep each
    /// onboarding's timers one after another; the first error that is not a timer found fired, if any.
    private func fireDue(_ onboardings: [TimerSchedule.Due], now: Date) async -> EngineError? {
        var timers: [(onboardingId: String, timer: OnboardingView.TimerSummary)] = []
        for onboarding in onboardings {
            do {
                let pending = try StoredJSON.decoder.decode(
                    [OnboardingView.TimerSummary].self, from: Data(onboarding.timers.utf8))
                timers += pending.filter { $0.dueAt <= now }.map { (onboarding.onboardingId, $0) }
            } catch {
                return EngineError(.internal, "the timers of onboarding '\(onboarding.onboardingId)' can't be read: \(error)")
            }
        }
        timers.sort { ($0.timer.dueAt, $0.onboardingId, $0.timer.id) < ($1.timer.dueAt, $1.onboardingId, $1.timer.id) }
        // A transaction ends where an onboarding would come in it twice.
        var batches: [[StreamWrite<OnboardingView, TimerRequest>]] = [[]]
        var inBatch: Set<String> = []
        for (onboardingId, timer) in timers {
            if inBatch.contains(onboardingId) {
                batches.append([])
                inBatch = []
            }
            batches[batches.count - 1].append(Self.timerWrite(onboardingId: onboardingId, timerId: timer.id))
            inBatch.insert(onboardingId)
        }
        var first: EngineError?
        for batch in batches where !batch.isEmpty {
            for case .failure(let error) in await performEach(kind: "timer", batch) {
                // Fired meanwhile by a person's command moving the flow on, or the onboarding ended: nothing to do.
                if error.code != .notFound, error.code != .onboardingNotActive { first = first ?? error }
            }
        }
        return first
    }

    /// How many onboardings have a timer due now and not yet fired, and the earliest due time.
    public func timerBacklog() async throws(EngineError) -> (onboardings: Int, earliest: Date?) {
        let now = clock()
        let backlog = try await read { connection in try TimerSchedule.backlog(on: connection, now: now) }
        return (backlog.count, backlog.earliest)
    }
}
