import Foundation
import HandoffCore
import HandoffJSON
import HandoffStore
import Timestamps

/// What the outbox is told about: the events people and other systems react to, by notification kind.
public enum NotificationKind {
    /// Each kind and the event type it comes from.
    public static let all: [(kind: String, event: String)] = [
        ("onboarding.started", "OnboardingStarted"),
        ("task.opened", "TaskOpened"),
        ("task.claimed", "TaskClaimed"),
        ("task.released", "TaskReleased"),
        ("task.completed", "TaskCompleted"),
        ("task.reminded", "TaskReminded"),
        ("task.overdue", "TaskOverdue"),
        ("task.escalated", "TaskEscalated"),
        ("role.notified", "RoleNotified"),
        ("onboarding.completed", "OnboardingCompleted"),
        ("onboarding.failed", "OnboardingFailed"),
        ("onboarding.cancelled", "OnboardingCancelled"),
    ]

    public static let names = all.map(\.kind)
    static let byEvent = Dictionary(uniqueKeysWithValues: all.map { ($0.event, $0.kind) })

    /// The role an event concerns: a task's (the one it was escalated to, for an escalation), a reminder's, or
    /// the role a notify step tells; nil for the onboarding's own events.
    static func role(of event: OnboardingEvent, in state: OnboardingState) -> String? {
        switch event {
        case .taskOpened(let opened): opened.role
        case .taskReminded(let reminded): reminded.role
        case .taskEscalated(let escalated): escalated.role
        case .roleNotified(let notified): notified.role
        case .taskOverdue(let overdue): state.task(overdue.taskId)?.role
        default: event.taskId.flatMap { state.task($0)?.role }
        }
    }

    /// The outbox rows of an append: one per event of a notified kind, each with the body receivers get, and one
    /// per call an automated step makes.
    static func notifications(
        _ encoded: [(event: OnboardingEvent, data: Data)], state: OnboardingState, firstVersion: Int, time: Date
    ) -> [NewNotification] {
        var notifications: [NewNotification] = []
        for (offset, item) in encoded.enumerated() {
            let type = item.event.type
            let version = firstVersion + offset
            if case .callRequested(let call) = item.event {
                notifications.append(
                    NewNotification(
                        id: call.callId, onboardingId: state.onboardingId, workflowId: state.workflowId, role: nil,
                        kind: "call", endpoint: call.endpoint,
                        body: callBody(call, state: state, version: version, time: time)))
                continue
            }
            guard let kind = byEvent[type] else { continue }
            let role = role(of: item.event, in: state)
            var writer = JSONWriter(capacity: 256 + item.data.count)
            writer.beginObject()
            writer.key("type"); writer.string(kind)
            writer.key("timestamp"); writer.string(Timestamp.format(time))
            writer.key("onboardingId"); writer.string(state.onboardingId)
            writer.key("workflow"); writer.string(state.workflowId)
            writer.key("event"); writer.string(type)
            writer.key("version"); writer.integer(version)
            writer.key("role"); writer.string(role)
            writer.key("data"); writer.raw(String(decoding: item.data, as: UTF8.self))
            writer.endObject()
            notifications.append(
                NewNotification(
                    onboardingId: state.onboardingId, workflowId: state.workflowId, role: role, kind: kind,
                    body: writer.text))
        }
        return notifications
    }

    /// What an automated step's endpoint receives: the call's id, where it comes from, and its arguments.
    static func callBody(_ call: CallRequested, state: OnboardingState, version: Int, time: Date) -> String {
        var writer = JSONWriter(capacity: 256)
        writer.beginObject()
        writer.key("type"); writer.string("call")
        writer.key("timestamp"); writer.string(Timestamp.format(time))
        writer.key("callId"); writer.string(call.callId)
        writer.key("onboardingId"); writer.string(state.onboardingId)
        writer.key("workflow"); writer.string(state.workflowId)
        writer.key("step"); writer.string(call.step)
        writer.key("endpoint"); writer.string(call.endpoint)
        writer.key("version"); writer.integer(version)
        writer.key("data")
        Value.write(call.arguments, to: &writer)
        writer.endObject()
        return writer.text
    }
}
