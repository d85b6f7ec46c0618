import Foundation
import HandoffCore
import Testing

/// Given events, when a command, then events (or a typed error and no events).
@Suite("Interpreter: tasks and commands")
struct InterpreterTests {
    static let source = """
        id: forms
        title: Forms
        version: 2
        roles: [admin, engineer]
        inputs:
          company: { type: string, required: true }
          seats: { type: integer, default: 3 }
        steps:
          - id: details
            task:
              role: admin
              title: Details for ${inputs.company}
              checklist:
                - { id: read, text: Read the guide }
                - { id: signed, text: Signed in }
              outputs:
                upn: { type: upn, required: true }
                size: { type: enum, values: [small, large], required: true }
                email: { type: email }
                ticket: { type: string, pattern: "T-[0-9]+" }
                id: { type: uuid }
                site: { type: url }
                count: { type: integer, default: "${inputs.seats}" }
                urgent: { type: boolean, default: false }
          - id: done
            end: completed
        """

    let interpreter: Interpreter
    let given: [OnboardingEvent]
    let state: OnboardingState

    init() throws {
        interpreter = Interpreter(definition: try WorkflowLoader.load(source: Self.source, file: "forms.yaml").get())
        given = try interpreter.decide(nil, .start(onboardingId: "ob", inputs: ["company": "Acme"]), now: t0)
        state = try #require(interpreter.replay(given))
    }

    func claimed(by user: String = "ann") throws -> OnboardingState {
        let events = try interpreter.decide(state, .claimTask(taskId: "ob-t1", user: user, roles: ["admin"]), now: t0)
        return try #require(interpreter.replay(given + events))
    }

    func refusal(_ state: OnboardingState?, _ command: OnboardingCommand) -> DecisionError? {
        do {
            let events = try interpreter.decide(state, command, now: t0)
            Issue.record("expected a refusal, got \(events.map(\.type))")
            return nil
        } catch {
            return error
        }
    }

    @Test func startAppliesDefaultsAndOpensTheFirstTask() {
        #expect(given.map(\.type) == ["OnboardingStarted", "StepEntered", "TaskOpened"])
        #expect(state.inputs == ["company": "Acme", "seats": 3])
        #expect(state.task("ob-t1")?.outputs.first { $0.name == "count" }?.default == 3)
        #expect(state.task("ob-t1")?.outputs.first { $0.name == "urgent" }?.default == false)
        #expect(state.task("ob-t1")?.outputs.first { $0.name == "upn" }?.default == nil)
        #expect(state.currentSteps == ["details"])
    }

    @Test func startRefusesBadInputsNamingEach() {
        let error = refusal(nil, .start(onboardingId: "ob", inputs: ["seats": "many", "colour": "red"]))
        #expect(error?.code == .invalidInput)
        #expect(
            error?.problems == [
                FieldProblem(field: "colour", reason: "is not an input of workflow 'forms'"),
                FieldProblem(field: "company", reason: "is required"),
                FieldProblem(field: "seats", reason: "must be an integer, not \"many\""),
            ])
    }

    @Test func anOverridingReleaseTakesSomeoneElsesClaimAndRecordsWhoDid() throws {
        #expect(refusal(state, .releaseTask(taskId: "ob-t1", user: "olivia", overriding: true))?.code
            == .taskNotClaimedByYou, "an open task has no claim to take")
        let held = try claimed(by: "ann")
        let taken = try interpreter.decide(held, .releaseTask(taskId: "ob-t1", user: "olivia", overriding: true), now: t0)
        #expect(taken == [.taskReleased(TaskReleased(taskId: "ob-t1", assignee: "ann", releasedBy: "olivia"))])
        let own = try interpreter.decide(held, .releaseTask(taskId: "ob-t1", user: "ann", overriding: true), now: t0)
        #expect(own == [.taskReleased(TaskReleased(taskId: "ob-t1", assignee: "ann"))])
        #expect(try #require(interpreter.replay(given + taken)).task("ob-t1")?.state == .open)
    }

    @Test func startTwiceIsRefused() {
        #expect(refusal(state, .start(onboardingId: "ob", inputs: ["company": "Acme"]))?.code == .alreadyExists)
    }

    @Test func claimNeedsTheRole() {
        let error = refusal(state, .claimTask(taskId: "ob-t1", user: "ann", roles: ["engineer"]))
        #expect(error == DecisionError(.forbiddenRole, "task 'ob-t1' is for role 'admin'"))
    }

    @Test func claimOfAnUnknownTask() {
        #expect(refusal(state, .claimTask(taskId: "ob-t9", user: "ann", roles: ["admin"]))?.code == .notFound)
    }

    @Test func claimsAreExclusive() throws {
        let held = try claimed(by: "ann")
        #expect(held.task("ob-t1")?.state == .claimed)
        #expect(held.task("ob-t1")?.assignee == "ann")
        let error = refusal(held, .claimTask(taskId: "ob-t1", user: "bob", roles: ["admin"]))
        #expect(error == DecisionError(.taskAlreadyClaimed, "task 'ob-t1' is already claimed by ann"))
        // Claiming again by the holder changes nothing.
        #expect(try interpreter.decide(held, .claimTask(taskId: "ob-t1", user: "ann", roles: ["admin"]), now: t0) == [])
    }

    @Test func releaseOnlyByTheHolder() throws {
        let held = try claimed(by: "ann")
        #expect(refusal(held, .releaseTask(taskId: "ob-t1", user: "bob"))?.code == .taskNotClaimedByYou)
        let events = try interpreter.decide(held, .releaseTask(taskId: "ob-t1", user: "ann"), now: t0)
        #expect(events == [.taskReleased(TaskReleased(taskId: "ob-t1", assignee: "ann"))])
        let released = try #require(
            interpreter.replay(given + [.taskClaimed(TaskClaimed(taskId: "ob-t1", assignee: "ann"))] + events))
        #expect(released.task("ob-t1")?.state == .open)
        #expect(released.task("ob-t1")?.assignee == nil)
    }

    @Test func completingATaskSomeoneElseHoldsIsRefused() throws {
        let held = try claimed(by: "ann")
        let error = refusal(held, .completeTask(taskId: "ob-t1", user: "bob", outputs: [:], checklist: []))
        #expect(error == DecisionError(.taskNotClaimedByYou, "task 'ob-t1' is claimed by ann, not bob"))
        #expect(
            refusal(state, .completeTask(taskId: "ob-t1", user: "ann", outputs: [:], checklist: []))?.code
                == .taskNotClaimedByYou)
    }

    @Test func invalidOutputsAreRejectedNamingEveryField() throws {
        let held = try claimed()
        let error = refusal(
            held,
            .completeTask(
                taskId: "ob-t1", user: "ann",
                outputs: [
                    "upn": "not-an-account", "size": "medium", "email": "ann@localhost", "ticket": "X-1",
                    "id": "1234", "site": "ftp://example.com", "count": "three", "colour": "blue",
                ],
                checklist: ["read", "signed"]))
        #expect(error?.code == .invalidOutputs)
        #expect(
            error?.problems == [
                FieldProblem(field: "colour", reason: "is not an output of this task"),
                FieldProblem(field: "upn", reason: "must look like name@domain"),
                FieldProblem(field: "size", reason: "must be one of small, large, not \"medium\""),
                FieldProblem(field: "email", reason: "must be an email address like name@example.com"),
                FieldProblem(field: "ticket", reason: "must match the pattern T-[0-9]+"),
                FieldProblem(field: "id", reason: "must be a UUID"),
                FieldProblem(field: "site", reason: "must be an http or https URL"),
                FieldProblem(field: "count", reason: "must be an integer, not \"three\""),
            ])
    }

    @Test func missingRequiredOutputsAndUntickedItemsAreNamedTogether() throws {
        let held = try claimed()
        let error = refusal(
            held, .completeTask(taskId: "ob-t1", user: "ann", outputs: ["upn": "ann@acme"], checklist: ["read"]))
        #expect(error?.code == .invalidOutputs)
        #expect(
            error?.problems == [
                FieldProblem(field: "size", reason: "is required"),
                FieldProblem(field: "signed", reason: "is not ticked: Signed in"),
            ])
        #expect(
            error?.message == "task 'ob-t1' can't be completed: size: is required; signed: is not ticked: Signed in")
    }

    @Test func anUntickedChecklistIsRejected() throws {
        let held = try claimed()
        let error = refusal(
            held,
            .completeTask(taskId: "ob-t1", user: "ann", outputs: ["upn": "ann@acme", "size": "small"], checklist: []))
        #expect(error?.code == .checklistIncomplete)
        #expect(error?.problems.map(\.field) == ["read", "signed"])
    }

    @Test func completionStoresConvertedValuesAndDefaultsThenRunsOn() throws {
        let held = try claimed()
        let events = try interpreter.decide(
            held,
            .completeTask(
                taskId: "ob-t1", user: "ann",
                outputs: ["upn": "ann@acme", "size": "large", "urgent": "true", "ticket": "T-12"],
                checklist: ["read", "signed"]),
            now: t0)
        let outputs: [String: Value] = [
            "upn": "ann@acme", "size": "large", "urgent": true, "ticket": "T-12", "count": 3,
        ]
        #expect(
            events == [
                .taskCompleted(
                    TaskCompleted(taskId: "ob-t1", user: "ann", outputs: outputs, checklist: ["read", "signed"])),
                .stepCompleted(StepCompleted(path: "details", step: "details", outputs: outputs)),
                .stepEntered(StepEntered(path: "done", step: "done", kind: "end")),
                .completed(OnboardingCompleted(path: "done")),
            ])
        let done = try #require(
            interpreter.replay(given + [.taskClaimed(TaskClaimed(taskId: "ob-t1", assignee: "ann"))] + events))
        #expect(done.status == .completed)
        #expect(done.task("ob-t1")?.completedBy == "ann")
        #expect(refusal(done, .claimTask(taskId: "ob-t1", user: "ann", roles: ["admin"]))?.code == .taskNotOpen)
    }

    @Test func cancelWithdrawsOpenTasks() throws {
        let events = try interpreter.decide(state, .cancel(user: "boss", reason: "customer left"), now: t0)
        #expect(
            events == [
                .taskCancelled(TaskCancelled(taskId: "ob-t1", reason: "the onboarding was cancelled")),
                .cancelled(OnboardingCancelled(user: "boss", reason: "customer left")),
            ])
        let cancelled = try #require(interpreter.replay(given + events))
        #expect(cancelled.status == .cancelled)
        #expect(cancelled.openTasks.isEmpty)
        #expect(refusal(cancelled, .cancel(user: "boss", reason: "again"))?.code == .onboardingNotActive)
    }

    @Test func commandsBeforeStartAreNotFound() {
        #expect(refusal(nil, .deliverSignal(name: "go", data: .null))?.code == .notFound)
    }

    @Test func aSignalNobodyWaitsForIsRefused() {
        let error = refusal(state, .deliverSignal(name: "go", data: .null))
        #expect(
            error == DecisionError(.signalNotAwaited, "no step is waiting for signal 'go' (no step waits for a signal now)")
        )
    }

    @Test func theSameCommandOnTheSameStateGivesTheSameEvents() throws {
        let held = try claimed()
        let command = OnboardingCommand.completeTask(
            taskId: "ob-t1", user: "ann", outputs: ["upn": "ann@acme", "size": "small"], checklist: ["read", "signed"])
        #expect(try interpreter.decide(held, command, now: t0) == (try interpreter.decide(held, command, now: t0)))
    }
}

