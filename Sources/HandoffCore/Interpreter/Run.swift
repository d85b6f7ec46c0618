import Foundation
import Timestamps

/// One decision in progress: emits events, folding each into `state` at once, and runs the flow forward.
struct Run {
    let interpreter: Interpreter
    var state: OnboardingState
    let now: Date
    var events: [OnboardingEvent] = []
    var stepsEntered = 0
    /// Steps to enter and leave, last first. The flow runs from this list instead of by recursion, so a long
    /// chain of automatic steps costs no stack.
    private var moves: [Move] = []
    private var moving = false

    private enum Move {
        case enter(String, prefix: String)
        case leave(Step, prefix: String, to: String?)
    }

    init(interpreter: Interpreter, state: OnboardingState, now: Date) {
        self.interpreter = interpreter
        self.state = state
        self.now = now
    }

    var definition: WorkflowDefinition { interpreter.definition }

    mutating func emit(_ event: OnboardingEvent) {
        events.append(event)
        interpreter.evolve(&state, event)
    }

    // MARK: Entering steps

    /// Runs step `id` at `prefix` (empty at the top, `call/` inside the block that step `call` runs), and the
    /// flow on from it.
    mutating func enter(_ id: String, prefix: String) {
        move(.enter(id, prefix: prefix))
    }

    /// Goes on after `step` (at `prefix`) to `target`, or, at the end of a branch or a block, joins or returns.
    mutating func leave(_ step: Step, prefix: String, to target: String?) {
        move(.leave(step, prefix: prefix, to: target))
    }

    /// Queues `next`; the outermost call runs the queue dry, depth first, as the recursion it replaces would.
    private mutating func move(_ next: Move) {
        moves.append(next)
        guard !moving else { return }
        moving = true
        defer { moving = false }
        while let move = moves.popLast() {
            switch move {
            case .enter(let id, let prefix): perform(enter: id, prefix: prefix)
            case .leave(let step, let prefix, let target): perform(leave: step, prefix: prefix, to: target)
            }
        }
    }

    private mutating func perform(enter id: String, prefix: String) {
        guard state.status == .active, let step = definition.steps[id] else { return }
        let path = prefix + id
        stepsEntered += 1
        guard events.count <= Interpreter.eventBudget else {
            fail(
                path: path,
                reason: "the flow passed through \(stepsEntered - 1) steps and wrote \(events.count) events "
                    + "without waiting; it loops, or its automatic steps run on too long")
            return
        }
        let lookup = values(prefix: prefix)
        if let condition = step.condition, !condition.evaluate(lookup).isTrue {
            emit(.stepSkipped(StepSkipped(path: path, step: id)))
            leave(step, prefix: prefix, to: step.next)
            return
        }
        emit(.stepEntered(StepEntered(path: path, step: id, kind: step.kindName)))
        switch step.kind {
        case .task(let task):
            openTask(task, step: step, path: path, lookup: lookup)
        case .decision(let decision):
            var target = decision.otherwise
            var branch: Int?
            for (index, candidate) in decision.branches.enumerated() where candidate.condition.evaluate(lookup).isTrue {
                target = candidate.next
                branch = index
                break
            }
            guard let target else {
                fail(path: path, reason: "no branch of decision '\(id)' holds and it has no 'otherwise'")
                return
            }
            emit(.decisionMade(DecisionMade(path: path, step: id, branch: branch, next: target)))
            emit(.stepCompleted(StepCompleted(path: path, step: id, outputs: [:])))
            enter(target, prefix: prefix)
        case .parallel(let parallel):
            // Queued last first, so the first branch runs first.
            for branch in parallel.branches.reversed() {
                if let first = branch.steps.first {
                    enter(first, prefix: prefix)
                }
            }
        case .wait(let wait):
            if let timeout = wait.timeout {
                schedule(path: path, dueAt: now.addingTimeInterval(TimeInterval(timeout.seconds)), purpose: "timeout")
            }
        case .timer(let timer):
            switch timer {
            case .duration(let span):
                schedule(path: path, dueAt: now.addingTimeInterval(TimeInterval(span.seconds)), purpose: "timer")
            case .until(let source):
                let value = source.value(lookup)
                guard let text = value.stringValue, let dueAt = Timestamp.parse(text) else {
                    fail(path: path, reason: "timer '\(id)' needs an ISO 8601 time, not \(value.jsonText)")
                    return
                }
                schedule(path: path, dueAt: dueAt, purpose: "timer")
            }
        case .notify(let notify):
            emit(.roleNotified(RoleNotified(path: path, step: id, role: notify.role, message: notify.message.render(lookup))))
            emit(.stepCompleted(StepCompleted(path: path, step: id, outputs: [:])))
            leave(step, prefix: prefix, to: step.next)
        case .call(let call):
            var arguments: [String: Value] = [:]
            for argument in call.arguments {
                arguments[argument.name] = argument.value.value(lookup)
            }
            let callId = "\(state.onboardingId)-call\(state.callsRequested + 1)"
            emit(
                .callRequested(
                    CallRequested(callId: callId, path: path, step: id, endpoint: call.endpoint, arguments: arguments)))
        case .block(let call):
            guard let block = definition.blocks[call.block] else { return }
            var params: [String: Value] = [:]
            for param in block.params {
                let given = call.arguments.first { $0.name == param.name }?.value.value(lookup)
                let candidate = given.flatMap { $0.isNull ? nil : $0 } ?? param.defaultValue?.value(values(prefix: ""))
                guard let candidate, !candidate.isNull else { continue }
                switch param.check(candidate) {
                case .success(let value):
                    params[param.name] = value
                case .failure(let problem):
                    fail(path: path, reason: "block '\(block.name)' parameter \(problem)")
                    return
                }
            }
            emit(.blockStarted(BlockStarted(path: path, step: id, block: block.name, params: params)))
            if let first = block.steps.first {
                enter(first, prefix: path + "/")
            }
        case .set(let assignments):
            var variables: [String: Value] = [:]
            for assignment in assignments {
                variables[assignment.name] = assignment.value.value(lookup)
            }
            emit(.variablesSet(VariablesSet(path: path, step: id, variables: variables)))
            emit(.stepCompleted(StepCompleted(path: path, step: id, outputs: [:])))
            leave(step, prefix: prefix, to: step.next)
        case .end(let end):
            switch end.outcome {
            case .completed:
                withdrawEverything(reason: "the onboarding completed at step '\(id)'")
                emit(.completed(OnboardingCompleted(path: path)))
            case .failed:
                let reason = end.reason?.render(lookup) ?? "the onboarding ended at step '\(id)'"
                fail(path: path, reason: reason.isEmpty ? "the onboarding ended at step '\(id)'" : reason)
            }
        }
    }

    mutating func openTask(_ task: TaskStep, step: Step, path: String, lookup: (ValuePath) -> Value) {
        let taskId = "\(state.onboardingId)-t\(state.tasks.count + 1)"
        let checklist = task.checklist.filter { $0.condition?.evaluate(lookup).isTrue ?? true }
            .map { ChecklistItem(id: $0.id, text: $0.text.render(lookup)) }
        let outputs = task.outputs.map { spec in
            var field = OutputField(
                name: spec.name, type: spec.type, required: spec.required, title: spec.title,
                values: spec.type == .enum ? spec.values : nil, pattern: spec.pattern, default: nil)
            if let source = spec.defaultValue {
                let value = source.value(lookup)
                if !value.isNull, case .success(let checked) = spec.check(value) {
                    field.default = checked
                }
            }
            return field
        }
        var dueAt: Date?
        switch task.due {
        case .after(let span):
            dueAt = now.addingTimeInterval(TimeInterval(span.seconds))
        case .at(let source):
            let value = source.value(lookup)
            if !value.isNull {
                guard let text = value.stringValue, let time = Timestamp.parse(text) else {
                    fail(path: path, reason: "task '\(step.id)' needs an ISO 8601 due time, not \(value.jsonText)")
                    return
                }
                dueAt = Timestamp.normalized(time)
            }
        case nil:
            dueAt = nil
        }
        emit(
            .taskOpened(
                TaskOpened(
                    taskId: taskId, path: path, step: step.id, role: task.role, title: task.title.render(lookup),
                    instructions: task.instructions?.render(lookup) ?? "", checklist: checklist, outputs: outputs,
                    dueAt: dueAt, createdAt: now)))
        scheduleTaskTimers(task, path: path, dueAt: state.tasks.last?.dueAt)
    }

    mutating func schedule(path: String, dueAt: Date, purpose: String) {
        let timerId = "\(state.onboardingId)-timer\(state.timersScheduled + 1)"
        emit(
            .timerScheduled(
                TimerScheduled(timerId: timerId, path: path, dueAt: Timestamp.normalized(dueAt), purpose: purpose)))
    }

    // MARK: Leaving steps

    private mutating func perform(leave step: Step, prefix: String, to target: String?) {
        guard state.status == .active else { return }
        if let target {
            enter(target, prefix: prefix)
            return
        }
        if let parallelID = step.placement.parallel, let branch = step.placement.branch,
            let parallel = definition.steps[parallelID]
        {
            let parallelPath = prefix + parallelID
            emit(.branchCompleted(BranchCompleted(path: parallelPath, step: parallelID, branch: branch)))
            let pending = state.activeSteps.first { $0.path == parallelPath }?.pendingBranches ?? []
            if pending.isEmpty {
                emit(.stepCompleted(StepCompleted(path: parallelPath, step: parallelID, outputs: [:])))
                leave(parallel, prefix: prefix, to: parallel.next)
            }
            return
        }
        if step.placement.block != nil {
            // `prefix` is `<parent prefix><call>/`: the block step that ran this block.
            let callPath = String(prefix.dropLast())
            let parentPrefix = Self.prefix(of: callPath)
            let callID = String(callPath.dropFirst(parentPrefix.count))
            guard let call = definition.steps[callID], case .block(let blockCall) = call.kind,
                let block = definition.blocks[blockCall.block]
            else {
                return
            }
            let lookup = values(prefix: prefix)
            var results: [String: Value] = [:]
            for result in block.results {
                results[result.name] = result.value.value(lookup)
            }
            emit(.stepCompleted(StepCompleted(path: callPath, step: callID, outputs: results)))
            leave(call, prefix: parentPrefix, to: call.next)
            return
        }
        // The loader makes every top-level path end in an `end` step; finish cleanly all the same.
        withdrawEverything(reason: "the onboarding completed")
        emit(.completed(OnboardingCompleted(path: prefix + step.id)))
    }

    /// A task, wait or timer step at `path` is done: record its outputs and go on.
    mutating func finishWaitingStep(path: String, outputs: [String: Value], timedOut: Bool = false) {
        let prefix = Self.prefix(of: path)
        let id = String(path.dropFirst(prefix.count))
        guard let step = definition.steps[id] else { return }
        emit(.stepCompleted(StepCompleted(path: path, step: id, outputs: outputs)))
        var target = step.next
        if timedOut, case .wait(let wait) = step.kind, let onTimeout = wait.onTimeout {
            target = onTimeout
        }
        leave(step, prefix: prefix, to: target)
    }

    mutating func answerCall(_ callId: String, path: String, outputs: [String: Value], attempts: Int) {
        emit(.callAnswered(CallAnswered(callId: callId, path: path, outputs: outputs, attempts: attempts)))
        finishWaitingStep(path: path, outputs: outputs)
    }

    /// The failure branch when the step has one; otherwise the onboarding fails with the reason.
    mutating func failCall(_ callId: String, path: String, reason: String, attempts: Int) {
        emit(.callFailed(CallFailed(callId: callId, path: path, reason: reason, attempts: attempts)))
        let prefix = Self.prefix(of: path)
        let id = String(path.dropFirst(prefix.count))
        guard let step = definition.steps[id], case .call(let call) = step.kind else { return }
        guard let onFailure = call.onFailure else {
            fail(path: path, reason: "the call of step '\(id)' to '\(call.endpoint)' failed: \(reason)")
            return
        }
        emit(.stepCompleted(StepCompleted(path: path, step: id, outputs: [:])))
        leave(step, prefix: prefix, to: onFailure)
    }

    mutating func receiveSignal(_ name: String, data: Value, at path: String) {
        emit(.signalReceived(SignalReceived(path: path, signal: name, data: data)))
        for timer in state.timers where timer.path == path {
            emit(.timerCancelled(TimerCancelled(timerId: timer.id, path: path)))
        }
        finishWaitingStep(path: path, outputs: ["received": true, "data": data])
    }

    mutating func fireTimer(_ timer: PendingTimer) {
        emit(.timerFired(TimerFired(timerId: timer.id, path: timer.path)))
        if Self.taskPurposes.contains(timer.purpose) {
            fireTaskTimer(timer)
            return
        }
        if timer.purpose == "timeout" {
            finishWaitingStep(path: timer.path, outputs: ["received": false, "data": .null], timedOut: true)
        } else {
            finishWaitingStep(path: timer.path, outputs: [:])
        }
    }

    // MARK: Task timers

    static let overdue = "overdue"
    static let reminderBefore = "reminder-before"
    static let reminderAfter = "reminder-after"
    static let escalation = "escalation"
    static let claimExpiry = "claim-expiry"
    /// The purposes of the timers a task step's `due`, `remind`, `escalate` and `claim_timeout` schedule, at the
    /// task's path.
    static let taskPurposes: Set<String> = [overdue, reminderBefore, reminderAfter, escalation, claimExpiry]

    /// The timers of a task that just opened: its due time (the overdue mark), its reminders, its escalation.
    mutating func scheduleTaskTimers(_ task: TaskStep, path: String, dueAt: Date?) {
        if let dueAt {
            schedule(path: path, dueAt: dueAt, purpose: Self.overdue)
            if let before = task.remindBefore {
                schedule(path: path, dueAt: dueAt.addingTimeInterval(-TimeInterval(before.seconds)), purpose: Self.reminderBefore)
            }
            if let after = task.remindAfter {
                schedule(path: path, dueAt: dueAt.addingTimeInterval(TimeInterval(after.seconds)), purpose: Self.reminderAfter)
            }
        }
        if let escalation = task.escalation {
            schedule(path: path, dueAt: now.addingTimeInterval(TimeInterval(escalation.after.seconds)), purpose: Self.escalation)
        }
    }

    /// A claim's expiry, when the task's step sets `claim_timeout`.
    mutating func scheduleClaimExpiry(_ task: OnboardingTask) {
        guard let step = definition.steps[task.step], case .task(let taskStep) = step.kind,
            let timeout = taskStep.claimTimeout
        else { return }
        schedule(path: task.path, dueAt: now.addingTimeInterval(TimeInterval(timeout.seconds)), purpose: Self.claimExpiry)
    }

    /// Cancels the pending timers at a task's path with these purposes (all of the task's, with nil).
    mutating func cancelTimers(of task: OnboardingTask, purposes: Set<String>?) {
        for timer in state.timers where timer.path == task.path && (purposes ?? Self.taskPurposes).contains(timer.purpose) {
            emit(.timerCancelled(TimerCancelled(timerId: timer.id, path: timer.path)))
        }
    }

    private mutating func fireTaskTimer(_ timer: PendingTimer) {
        guard let task = state.openTasks.first(where: { $0.path == timer.path }) else { return }
        switch timer.purpose {
        case Self.overdue:
            emit(.taskOverdue(TaskOverdue(taskId: task.id, dueAt: timer.dueAt)))
        case Self.reminderBefore, Self.reminderAfter:
            emit(
                .taskReminded(
                    TaskReminded(
                        taskId: task.id, when: timer.purpose == Self.reminderBefore ? "before" : "after", role: task.role,
                        assignee: task.assignee)))
        case Self.escalation:
            guard let step = definition.steps[task.step], case .task(let taskStep) = step.kind,
                let escalation = taskStep.escalation
            else { return }
            emit(
                .taskEscalated(
                    TaskEscalated(taskId: task.id, role: escalation.role, mode: escalation.mode.rawValue, from: task.role)))
        case Self.claimExpiry:
            guard task.state == .claimed, let assignee = task.assignee else { return }
            let timeout = definition.steps[task.step].flatMap { step -> TimeSpan? in
                if case .task(let task) = step.kind { task.claimTimeout } else { nil }
            }
            emit(
                .taskReleased(
                    TaskReleased(
                        taskId: task.id, assignee: assignee,
                        reason: "the claim expired" + (timeout.map { " after \($0.description)" } ?? ""))))
        default:
            break
        }
    }

    // MARK: Ending

    /// Cancels every open task and pending timer (before the onboarding ends).
    mutating func withdrawEverything(reason: String) {
        for task in state.openTasks {
            emit(.taskCancelled(TaskCancelled(taskId: task.id, reason: reason)))
        }
        for timer in state.timers {
            emit(.timerCancelled(TimerCancelled(timerId: timer.id, path: timer.path)))
        }
    }

    mutating func fail(path: String?, reason: String) {
        withdrawEverything(reason: "the onboarding failed")
        emit(.failed(OnboardingFailed(path: path, reason: reason)))
    }

    // MARK: Values

    /// The part of `path` before its last step id, with the trailing `/` (empty at the top).
    static func prefix(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        return String(path[...slash])
    }

    /// Looks up paths as seen from a step at `prefix`.
    func values(prefix: String) -> (ValuePath) -> Value {
        let state = self.state
        let definition = self.definition
        return { path in
            let head = path.segments[0]
            let rest = path.segments.dropFirst()
            switch path.root {
            case .inputs:
                return Self.dig(state.inputs[head] ?? .null, rest)
            case .vars:
                return Self.dig(state.variables[head] ?? .null, rest)
            case .params:
                let callPath = String(prefix.dropLast())
                return Self.dig(state.blockParams[callPath]?[head] ?? .null, rest)
            case .steps:
                guard let step = definition.steps[head], let output = rest.first else { return .null }
                let key = step.placement.block == nil ? head : prefix + head
                return Self.dig(state.stepOutputs[key]?[output] ?? .null, rest.dropFirst())
            }
        }
    }

    static func dig(_ value: Value, _ segments: ArraySlice<String>) -> Value {
        var current = value
        for segment in segments {
            switch current {
            case .object(let members): current = members[segment] ?? .null
            case .list(let items):
                guard let index = Int(segment), items.indices.contains(index) else { return .null }
                current = items[index]
            default: return .null
            }
        }
        return current
    }
}
