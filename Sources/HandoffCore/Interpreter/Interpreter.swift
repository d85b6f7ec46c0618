import Foundation
import Timestamps

/// Runs onboardings of one workflow definition: a pure fold (`evolve`) and a pure decision (`decide`).
///
/// Nothing here reads a clock, makes ids or draws random numbers: `now` comes in as an argument and ids are
/// derived from the onboarding id and the state (`<onboarding>-t<n>` for tasks, `<onboarding>-timer<n>` for
/// timers), so folding the same events always gives the same state and the same command on the same state always
/// gives the same events.
public struct Interpreter: Sendable {
    public let definition: WorkflowDefinition

    /// The most events one decision may write while running the flow before the onboarding is failed as
    /// looping. The store takes at most 1,000 events in one append; the rest is room for withdrawing what is open
    /// (the loader keeps that to `WorkflowLoader.maximumWidth` tasks and timers) and the failure itself.
    public static let eventBudget = 600

    /// The longest onboarding id (task and timer ids add a few characters to it).
    public static let maximumIdLength = 200

    public init(definition: WorkflowDefinition) {
        self.definition = definition
    }

    // MARK: - Evolve

    /// Folds one event into the state. The first event of a stream is `OnboardingStarted`; events that name
    /// tasks, steps or timers the state does not know change nothing but `version`.
    public func evolve(_ state: OnboardingState?, _ event: OnboardingEvent) -> OnboardingState {
        if case .started(let started) = event {
            var fresh = OnboardingState(started: started)
            fresh.version = (state?.version ?? 0) + 1
            return fresh
        }
        guard var state else {
            // A stream that does not begin with OnboardingStarted: nothing to fold it into.
            var empty = OnboardingState(
                started: OnboardingStarted(
                    onboardingId: "", workflowId: definition.id, workflowVersion: definition.version,
                    contentHash: definition.contentHash, inputs: [:]))
            empty.version = 1
            return empty
        }
        evolve(&state, event)
        return state
    }

    /// `evolve` in place: the state's collections are changed where they are, not copied first (as they are when
    /// the state being folded is still held by the caller), which a decision emitting several events and a
    /// long fold both feel.
    public func evolve(_ state: inout OnboardingState, _ event: OnboardingEvent) {
        if case .started(let started) = event {
            let version = state.version
            state = OnboardingState(started: started)
            state.version = version + 1
            return
        }
        state.version += 1
        switch event {
        case .started:
            break
        case .stepEntered(let entered):
            let step = definition.steps[entered.step]
            var active = ActiveStep(path: entered.path, step: entered.step, kind: entered.kind, pendingBranches: [])
            switch step?.kind {
            case .parallel(let parallel): active.pendingBranches = parallel.branches.map(\.name)
            case .wait(let wait): active.signal = wait.signal
            default: break
            }
            state.activeSteps.removeAll { $0.path == entered.path }
            state.activeSteps.append(active)
        case .stepSkipped:
            break
        case .stepCompleted(let completed):
            state.activeSteps.removeAll { $0.path == completed.path }
            state.stepOutputs[completed.path] = completed.outputs
        case .decisionMade:
            break
        case .blockStarted(let started):
            state.blockParams[started.path] = started.params
        case .branchCompleted(let completed):
            if let index = state.activeSteps.firstIndex(where: { $0.path == completed.path }) {
                state.activeSteps[index].pendingBranches.removeAll { $0 == completed.branch }
            }
        case .taskOpened(let opened):
            state.tasks.append(
                OnboardingTask(
                    id: opened.taskId, path: opened.path, step: opened.step, role: opened.role, title: opened.title,
                    instructions: opened.instructions, state: .open, assignee: nil, checklist: opened.checklist,
                    outputs: opened.outputs, dueAt: opened.dueAt, createdAt: opened.createdAt))
        case .taskClaimed(let claimed):
            state.updateTask(claimed.taskId) {
                $0.state = .claimed
                $0.assignee = claimed.assignee
            }
        case .taskReleased(let released):
            state.updateTask(released.taskId) {
                $0.state = .open
                $0.assignee = nil
            }
        case .taskCompleted(let completed):
            state.updateTask(completed.taskId) {
                $0.state = .completed
                $0.completedBy = completed.user
                $0.completedOutputs = completed.outputs
                $0.checkedItems = completed.checklist
            }
        case .taskCancelled(let cancelled):
            state.updateTask(cancelled.taskId) { $0.state = .cancelled }
        case .taskOverdue, .taskReminded:
            break
        case .taskEscalated(let escalated):
            state.updateTask(escalated.taskId) { task in
                if escalated.mode == Escalation.Mode.move.rawValue {
                    task.role = escalated.role
                } else if !task.escalatedRoles.contains(escalated.role) {
                    task.escalatedRoles.append(escalated.role)
                }
            }
        case .variablesSet(let set):
            state.variables.merge(set.variables) { _, new in new }
        case .signalReceived, .roleNotified, .callAnswered, .callFailed:
            break
        case .callRequested(let requested):
            state.callsRequested += 1
            if let index = state.activeSteps.firstIndex(where: { $0.path == requested.path }) {
                state.activeSteps[index].call = requested.callId
            }
        case .timerScheduled(let scheduled):
            state.timers.append(
                PendingTimer(
                    id: scheduled.timerId, path: scheduled.path, dueAt: scheduled.dueAt, purpose: scheduled.purpose))
            state.timersScheduled += 1
        case .timerFired(let fired):
            state.timers.removeAll { $0.id == fired.timerId }
        case .timerCancelled(let cancelled):
            state.timers.removeAll { $0.id == cancelled.timerId }
        case .completed:
            state.finish(.completed, reason: nil)
        case .cancelled(let cancelled):
            state.finish(.cancelled, reason: cancelled.reason)
        case .failed(let failed):
            state.finish(.failed, reason: failed.reason)
        case .upgraded(let upgraded):
            state.workflowVersion = upgraded.workflowVersion
            state.contentHash = upgraded.contentHash
        }
    }

    /// Folds a whole history; nil for an empty one.
    public func replay(_ events: some Sequence<OnboardingEvent>) -> OnboardingState? {
        var state: OnboardingState?
        for event in events {
            if state == nil {
                state = evolve(nil, event)
            } else {
                evolve(&state!, event)
            }
        }
        return state
    }

    // MARK: - Decide

    /// The events that carry out `command` on `state` at time `now` (rounded to the millisecond).
    ///
    /// The flow is run forward until every branch waits on a task, a signal or a timer, or the onboarding ends,
    /// and every event on the way is returned. Throws `DecisionError`, and emits nothing, when the command
    /// cannot be carried out.
    public func decide(
        _ state: OnboardingState?, _ command: OnboardingCommand, now: Date
    ) throws(DecisionError) -> [OnboardingEvent] {
        try decision(state, command, now: now).events
    }

    /// What `decide` emits, with the state those events fold to: the interpreter folds each event as it emits
    /// it, so a writer needs no second fold.
    public struct Decision: Sendable {
        public var events: [OnboardingEvent]
        /// The state given with `events` folded in (the state given when there are none).
        public var state: OnboardingState
    }

    /// `decide`, with the folded state too.
    public func decision(
        _ state: OnboardingState?, _ command: OnboardingCommand, now: Date
    ) throws(DecisionError) -> Decision {
        let now = Timestamp.normalized(now)
        if case .start(let onboardingId, let inputs) = command {
            if let state {
                throw DecisionError(.alreadyExists, "onboarding '\(state.onboardingId)' has already started")
            }
            return try start(onboardingId: onboardingId, inputs: inputs, now: now)
        }
        guard let state else {
            throw DecisionError(.notFound, "the onboarding has not started")
        }
        var run = Run(interpreter: self, state: state, now: now)
        switch command {
        case .start:
            break
        case .claimTask(let taskId, let user, let roles):
            let task = try openTask(taskId, in: state)
            if task.state == .claimed {
                if task.assignee == user { return Decision(events: [], state: state) }
                throw DecisionError(
                    .taskAlreadyClaimed, "task '\(taskId)' is already claimed by \(task.assignee ?? "someone")")
            }
            guard task.isClaimable(by: roles) else {
                let also = task.escalatedRoles.isEmpty ? "" : " (or, escalated, " + task.escalatedRoles.joined(separator: ", ") + ")"
                throw DecisionError(.forbiddenRole, "task '\(taskId)' is for role '\(task.role)'\(also)")
            }
            run.emit(.taskClaimed(TaskClaimed(taskId: taskId, assignee: user)))
            run.scheduleClaimExpiry(task)
        case .releaseTask(let taskId, let user, let overriding):
            let task = try openTask(taskId, in: state)
            guard task.state == .claimed, let assignee = task.assignee, assignee == user || overriding else {
                throw DecisionError(.taskNotClaimedByYou, notHeldMessage(task, user: user))
            }
            let releasedBy = assignee == user ? nil : user
            run.emit(.taskReleased(TaskReleased(taskId: taskId, assignee: assignee, releasedBy: releasedBy)))
            run.cancelTimers(of: task, purposes: [Run.claimExpiry])
        case .completeTask(let taskId, let user, let outputs, let checklist):
            let task = try openTask(taskId, in: state)
            guard task.state == .claimed, task.assignee == user else {
                throw DecisionError(.taskNotClaimedByYou, notHeldMessage(task, user: user))
            }
            let values = try checkCompletion(task, outputs: outputs, checklist: checklist)
            try requireActive(state)
            run.emit(
                .taskCompleted(
                    TaskCompleted(taskId: taskId, user: user, outputs: values, checklist: checklist.sorted())))
            run.cancelTimers(of: task, purposes: nil)
            run.finishWaitingStep(path: task.path, outputs: values)
        case .deliverSignal(let name, let data):
            try requireActive(state)
            let waiting = state.activeSteps.filter { $0.signal == name }
            guard !waiting.isEmpty else {
                let awaited = Set(state.awaitedSignals.map(\.signal)).sorted()
                let known =
                    awaited.isEmpty
                    ? "no step waits for a signal now" : "steps wait for: " + awaited.joined(separator: ", ")
                throw DecisionError(.signalNotAwaited, "no step is waiting for signal '\(name)' (\(known))")
            }
            var accepted = data
            for step in waiting {
                if case .wait(let wait)? = definition.steps[step.step]?.kind, let fields = wait.data {
                    accepted = try checkSignalData(data, fields: fields, signal: name)
                }
            }
            for step in waiting where run.state.status == .active {
                run.receiveSignal(name, data: accepted, at: step.path)
            }
        case .fireTimer(let timerId):
            try requireActive(state)
            guard let timer = state.timers.first(where: { $0.id == timerId }) else {
                throw DecisionError(.notFound, "no pending timer '\(timerId)'")
            }
            guard timer.dueAt <= now else {
                throw DecisionError(
                    .invalidInput, "timer '\(timerId)' is due at \(Timestamp.format(timer.dueAt)); it can't fire before"
                )
            }
            run.fireTimer(timer)
        case .answerCall(let callId, let outputs, let attempts):
            try requireActive(state)
            let (path, call) = try pendingCall(callId, in: state)
            var problems: [FieldProblem] = []
            var accepted: [String: Value] = [:]
            for name in outputs.keys.sorted() where !call.outputs.contains(where: { $0.name == name }) {
                problems.append(FieldProblem(field: name, reason: "is not an output of the call"))
            }
            for spec in call.outputs {
                let value = outputs[spec.name] ?? .null
                if value.isNull {
                    if spec.required { problems.append(FieldProblem(field: spec.name, reason: "is required")) }
                    continue
                }
                switch spec.check(value) {
                case .success(let checked): accepted[spec.name] = checked
                case .failure(let problem): problems.append(problem)
                }
            }
            guard problems.isEmpty else {
                throw DecisionError(
                    .invalidOutputs,
                    "the answer to call '\(callId)' does not fit the step's outputs: "
                        + problems.map(\.description).joined(separator: "; "),
                    problems: problems)
            }
            run.answerCall(callId, path: path, outputs: accepted, attempts: attempts)
        case .failCall(let callId, let reason, let attempts):
            try requireActive(state)
            let (path, _) = try pendingCall(callId, in: state)
            run.failCall(callId, path: path, reason: reason, attempts: attempts)
        case .cancel(let user, let reason):
            try requireActive(state)
            let reason = reason.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !reason.isEmpty else {
                throw DecisionError(.invalidInput, "a cancellation needs a reason")
            }
            run.withdrawEverything(reason: "the onboarding was cancelled")
            run.emit(.cancelled(OnboardingCancelled(user: user, reason: reason)))
        case .upgrade(let target):
            try requireActive(state)
            try checkUpgrade(state, to: target)
            run.emit(
                .upgraded(
                    OnboardingUpgraded(
                        fromVersion: state.workflowVersion, fromContentHash: state.contentHash,
                        workflowVersion: target.version, contentHash: target.contentHash)))
        }
        return Decision(events: run.events, state: run.state)
    }

    /// Refuses (`invalid_input`, naming the first reason) an upgrade to `target` unless it is a newer version of
    /// the run's workflow in which every step the run is in now is a step of the same kind (in the same block),
    /// and every open or claimed task's step is a task for the role it has in the run's definition.
    private func checkUpgrade(_ state: OnboardingState, to target: WorkflowDefinition) throws(DecisionError) {
        guard target.id == state.workflowId else {
            throw DecisionError(
                .invalidInput, "that is a definition of workflow '\(target.id)', and this run is of '\(state.workflowId)'")
        }
        guard target.version > state.workflowVersion else {
            throw DecisionError(
                .invalidInput,
                "the run is at \(state.workflowId) v\(state.workflowVersion); v\(target.version) is not newer")
        }
        for active in state.activeSteps {
            guard let step = target.steps[active.step] else {
                throw DecisionError(
                    .invalidInput,
                    "the run is in step \(active.path), which \(target.id) v\(target.version) does not have")
            }
            guard step.kindName == active.kind else {
                throw DecisionError(
                    .invalidInput,
                    "the run is in step \(active.path), a \(active.kind) step; in v\(target.version) it is a "
                        + "\(step.kindName) step")
            }
            let placed = definition.steps[active.step]?.placement
            guard placed?.block == step.placement.block, placed?.parallel == step.placement.parallel,
                placed?.branch == step.placement.branch
            else {
                throw DecisionError(
                    .invalidInput, "step \(active.path) sits elsewhere in v\(target.version) (another block or branch)")
            }
        }
        for task in state.openTasks {
            guard case .task(let step)? = target.steps[task.step]?.kind else {
                throw DecisionError(
                    .invalidInput,
                    "task \(task.id) waits in step \(task.path), which is not a task in v\(target.version)")
            }
            guard case .task(let current)? = definition.steps[task.step]?.kind, current.role == step.role else {
                throw DecisionError(
                    .invalidInput,
                    "task \(task.id) is for role \(task.role); in v\(target.version) its step is for \(step.role)")
            }
        }
    }

    /// The path and step of a call an automated step waits on; `not_found` when no step waits on it (answered,
    /// failed or withdrawn already).
    private func pendingCall(_ callId: String, in state: OnboardingState) throws(DecisionError) -> (String, CallStep) {
        guard let pending = state.pendingCalls.first(where: { $0.callId == callId }),
            let step = state.activeSteps.first(where: { $0.path == pending.path }),
            case .call(let call)? = definition.steps[step.step]?.kind
        else {
            throw DecisionError(.notFound, "no step waits on call '\(callId)'")
        }
        return (pending.path, call)
    }

    private func start(onboardingId: String, inputs: [String: Value], now: Date) throws(DecisionError) -> Decision {
        guard !onboardingId.isEmpty, onboardingId.count <= Self.maximumIdLength,
            !onboardingId.contains(where: { $0.isWhitespace || $0 == "/" })
        else {
            throw DecisionError(
                .invalidInput, "an onboarding id must have 1 to \(Self.maximumIdLength) characters, without spaces or '/'")
        }
        if let scalar = PlainText.firstForbiddenInName(onboardingId) {
            throw DecisionError(
                .invalidInput,
                "an onboarding id may not hold control, invisible or direction-changing characters "
                    + "(\(PlainText.codePoint(scalar)))")
        }
        var problems: [FieldProblem] = []
        var values: [String: Value] = [:]
        for name in inputs.keys.sorted() where definition.input(named: name) == nil {
            problems.append(FieldProblem(field: name, reason: "is not an input of workflow '\(definition.id)'"))
        }
        for spec in definition.inputs {
            let given = inputs[spec.name].flatMap { $0.isNull ? nil : $0 }
            let candidate = given ?? spec.defaultValue.map { $0.value { _ in .null } }
            guard let candidate, !candidate.isNull else {
                if spec.required {
                    problems.append(FieldProblem(field: spec.name, reason: "is required"))
                }
                continue
            }
            switch spec.check(candidate) {
            case .success(let value): values[spec.name] = value
            case .failure(let problem): problems.append(problem)
            }
        }
        if !problems.isEmpty {
            throw DecisionError(
                .invalidInput, "the inputs are not valid: " + problems.map(\.description).joined(separator: "; "),
                problems: problems)
        }
        let started = OnboardingStarted(
            onboardingId: onboardingId, workflowId: definition.id, workflowVersion: definition.version,
            contentHash: definition.contentHash, inputs: values)
        var run = Run(interpreter: self, state: evolve(nil, .started(started)), now: now)
        run.events = [.started(started)]
        run.enter(definition.start, prefix: "")
        return Decision(events: run.events, state: run.state)
    }

    /// A signal's data against the shape its wait step declares: an object of those fields, each checked and
    /// converted as an output is, defaults filled in. Throws `invalid_input` naming every field that does not fit.
    private func checkSignalData(_ data: Value, fields: [FieldSpec], signal: String) throws(DecisionError) -> Value {
        var given: [String: Value] = [:]
        switch data {
        case .object(let members): given = members
        case .null: break
        default:
            throw DecisionError(
                .invalidInput, "the data of signal '\(signal)' must be an object with "
                    + fields.map(\.name).joined(separator: ", "))
        }
        var problems: [FieldProblem] = []
        var values: [String: Value] = [:]
        for name in given.keys.sorted() where !fields.contains(where: { $0.name == name }) {
            problems.append(FieldProblem(field: name, reason: "is not a field of signal '\(signal)'"))
        }
        for spec in fields {
            let candidate = given[spec.name].flatMap { $0.isNull ? nil : $0 } ?? spec.defaultValue.map { $0.value { _ in .null } }
            guard let candidate, !candidate.isNull else {
                if spec.required { problems.append(FieldProblem(field: spec.name, reason: "is required")) }
                continue
            }
            switch spec.check(candidate) {
            case .success(let value): values[spec.name] = value
            case .failure(let problem): problems.append(problem)
            }
        }
        guard problems.isEmpty else {
            throw DecisionError(
                .invalidInput,
                "the data of signal '\(signal)' is not valid: " + problems.map(\.description).joined(separator: "; "),
                problems: problems)
        }
        return .object(values)
    }

    private func openTask(_ taskId: String, in state: OnboardingState) throws(DecisionError) -> OnboardingTask {
        guard let task = state.task(taskId) else {
            throw DecisionError(.notFound, "no task '\(taskId)' in onboarding '\(state.onboardingId)'")
        }
        guard task.state == .open || task.state == .claimed else {
            throw DecisionError(.taskNotOpen, "task '\(taskId)' is \(task.state.rawValue)")
        }
        return task
    }

    private func notHeldMessage(_ task: OnboardingTask, user: String) -> String {
        if let assignee = task.assignee {
            return "task '\(task.id)' is claimed by \(assignee), not \(user)"
        }
        return "task '\(task.id)' is not claimed; claim it first"
    }

    private func requireActive(_ state: OnboardingState) throws(DecisionError) {
        guard state.status == .active else {
            throw DecisionError(
                .onboardingNotActive, "onboarding '\(state.onboardingId)' is \(state.status.rawValue)")
        }
    }

    /// The outputs to store, or an error naming every bad field and every unticked item.
    private func checkCompletion(
        _ task: OnboardingTask, outputs: [String: Value], checklist: Set<String>
    ) throws(DecisionError) -> [String: Value] {
        var outputProblems: [FieldProblem] = []
        var values: [String: Value] = [:]
        let specs = outputSpecs(of: task)
        for name in outputs.keys.sorted() where !task.outputs.contains(where: { $0.name == name }) {
            outputProblems.append(FieldProblem(field: name, reason: "is not an output of this task"))
        }
        for field in task.outputs {
            let given = outputs[field.name].flatMap { $0.isNull ? nil : $0 }
            guard let candidate = given ?? field.default else {
                if field.required {
                    outputProblems.append(FieldProblem(field: field.name, reason: "is required"))
                }
                continue
            }
            let spec = specs[field.name] ?? field.spec
            switch spec.check(candidate) {
            case .success(let value): values[field.name] = value
            case .failure(let problem): outputProblems.append(problem)
            }
        }
        let items = Set(task.checklist.map(\.id))
        var checklistProblems = task.checklist.filter { !checklist.contains($0.id) }
            .map { FieldProblem(field: $0.id, reason: "is not ticked: \($0.text)") }
        checklistProblems += checklist.subtracting(items).sorted()
            .map { FieldProblem(field: $0, reason: "is not an item of this task's checklist") }
        let problems = outputProblems + checklistProblems
        guard problems.isEmpty else {
            let code: DecisionError.Code = outputProblems.isEmpty ? .checklistIncomplete : .invalidOutputs
            throw DecisionError(
                code,
                "task '\(task.id)' can't be completed: " + problems.map(\.description).joined(separator: "; "),
                problems: problems)
        }
        return values
    }

    /// What is wrong with the given values alone (their types, formats and patterns), checked against a task's
    /// fields as they were when it opened. The engine runs this before it takes any lock when the values are
    /// long, so that checking them never holds others up; a completion checks everything again.
    public static func problems(ofGiven outputs: [String: Value], for fields: [OutputField]) -> [FieldProblem] {
        fields.compactMap { field in
            guard let value = outputs[field.name], !value.isNull else { return nil }
            if case .failure(let problem) = field.spec.check(value) { return problem }
            return nil
        }
    }

    private func outputSpecs(of task: OnboardingTask) -> [String: FieldSpec] {
        guard case .task(let step)? = definition.steps[task.step]?.kind else { return [:] }
        return Dictionary(step.outputs.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }
}

extension OnboardingState {
    mutating func updateTask(_ id: String, _ change: (inout OnboardingTask) -> Void) {
        if let index = tasks.firstIndex(where: { $0.id == id }) {
            change(&tasks[index])
        }
    }

    mutating func finish(_ status: Status, reason: String?) {
        self.status = status
        self.reason = reason
        activeSteps = []
        timers = []
        for index in tasks.indices where tasks[index].state == .open || tasks[index].state == .claimed {
            tasks[index].state = .cancelled
        }
    }
}

extension OutputField {
    /// The field as a spec to check values with.
    var spec: FieldSpec {
        FieldSpec(
            name: name, type: type, required: required, values: values ?? [], pattern: pattern, location: .start)
    }
}
