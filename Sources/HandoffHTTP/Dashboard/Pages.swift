import Foundation
import HTTPTypes
import HandoffCore
import HandoffService
import Hummingbird
import Mustache
import NIOCore
import Timestamps

/// The dashboard's templates (swift-mustache, which escapes every `{{value}}` for HTML) and its one stylesheet
/// and script, loaded once from the module's resources.
struct Pages: Sendable {
    let library: MustacheLibrary
    let assets: [String: (type: String, bytes: [UInt8])]

    static func load() throws(EngineError) -> Pages {
        guard let templates = Bundle.module.url(forResource: "templates", withExtension: nil),
            let assets = Bundle.module.url(forResource: "assets", withExtension: nil)
        else {
            throw EngineError(.internal, "the dashboard's templates are not in Handoff's resources")
        }
        do {
            var library = MustacheLibrary()
            for file in try FileManager.default.contentsOfDirectory(atPath: templates.path) where file.hasSuffix(".mustache") {
                let text = try String(contentsOf: templates.appendingPathComponent(file), encoding: .utf8)
                try library.register(text, named: String(file.dropLast(".mustache".count)))
            }
            var files: [String: (String, [UInt8])] = [:]
            for file in try FileManager.default.contentsOfDirectory(atPath: assets.path) {
                let type = file.hasSuffix(".css") ? "text/css; charset=utf-8" : "text/javascript; charset=utf-8"
                files[file] = (type, Array(try Data(contentsOf: assets.appendingPathComponent(file))))
            }
            return Pages(library: library, assets: files)
        } catch {
            throw EngineError(.internal, "the dashboard's templates don't load: \(error)")
        }
    }

    /// A page: the template rendered with `values`, and the headers every dashboard page carries (no script but
    /// Handoff's own, no framing, no caching of what a signed-in user saw).
    func render(_ template: String, _ values: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        let html = library.render(values, withTemplate: template) ?? "template \(template) is missing"
        var headers = Self.securityHeaders
        headers[.contentType] = "text/html; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }

    static let securityHeaders: HTTPFields = [
        .contentSecurityPolicy:
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
            + "frame-ancestors 'none'; form-action 'self'; base-uri 'none'; object-src 'none'",
        .xContentTypeOptions: "nosniff",
        .referrerPolicy: "same-origin",
        .cacheControl: "no-store",
        .xFrameOptions: "DENY",
    ]
}

extension HTTPField.Name {
    static let xContentTypeOptions = HTTPField.Name("X-Content-Type-Options")!
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
    static let xFrameOptions = HTTPField.Name("X-Frame-Options")!
}

/// What the templates show, built from the engine's views: plain dictionaries of text, numbers, flags and lists.
enum PageValues {
    static func frame(_ context: HandoffRequestContext, title: String, nav: String) -> [String: Any] {
        let caller = context.caller
        return [
            "title": title,
            "user": caller?.name ?? "",
            "roles": (caller?.roles.sorted() ?? []).joined(separator: ", "),
            "csrf": Session.csrf(context),
            "hasSession": context.sessionToken != nil,
            "signedIn": caller != nil,
            "navOverview": nav == "overview",
            "navInbox": nav == "inbox",
            "navOnboardings": nav == "onboardings",
            "navTasks": nav == "tasks",
        ]
    }

    static func path(_ segments: String...) -> String {
        "/dashboard/" + segments.map { Form.encode($0).replacingOccurrences(of: "/", with: "%2F") }.joined(separator: "/")
    }

    static func time(_ date: Date?) -> String {
        date.map(Timestamp.format) ?? ""
    }

    /// Seconds for people: `42 s`, `7 min`, `3.5 h`, `2.1 d`; `—` for none.
    static func duration(_ seconds: Double?) -> String {
        guard let seconds else { return "—" }
        switch seconds {
        case ..<60: return String(format: "%.0f s", seconds)
        case ..<3600: return String(format: "%.0f min", seconds / 60)
        case ..<86_400: return String(format: "%.1f h", seconds / 3600)
        default: return String(format: "%.1f d", seconds / 86_400)
        }
    }

    static func isOverdue(_ task: TaskView, now: Date) -> Bool {
        guard let due = task.dueAt, task.state == "open" || task.state == "claimed" else { return false }
        return due <= now
    }

    static func task(_ task: TaskView, caller: Caller?, now: Date) -> [String: Any] {
        let roles = caller?.roles ?? []
        return [
            "id": task.id,
            "link": path("tasks", task.id),
            "claimPath": path("tasks", task.id, "claim"),
            "releasePath": path("tasks", task.id, "release"),
            "onboardingId": task.onboardingId,
            "onboardingLink": path("onboardings", task.onboardingId),
            "title": task.title,
            "role": task.escalatedRoles.isEmpty
                ? task.role : ([task.role] + task.escalatedRoles).joined(separator: ", "),
            "step": task.step,
            "state": task.state,
            "assignee": task.assignee ?? "",
            "due": time(task.dueAt),
            "hasDue": task.dueAt != nil,
            "overdue": isOverdue(task, now: now),
            "created": time(task.createdAt),
            "canClaim": task.state == "open"
                && (roles.contains(task.role) || task.escalatedRoles.contains(where: roles.contains)),
            "canRelease": task.state == "claimed" && (task.assignee == caller?.name || caller?.isAdmin == true),
            "isMine": task.state == "claimed" && task.assignee == caller?.name,
        ]
    }

    static func onboardingRow(_ onboarding: OnboardingView) -> [String: Any] {
        [
            "id": onboarding.id,
            "link": path("onboardings", onboarding.id),
            "workflow": onboarding.workflow,
            "state": onboarding.state,
            "steps": onboarding.currentSteps.joined(separator: ", "),
            "company": onboarding.inputs["company"]?.displayText ?? "",
            "updated": time(onboarding.updatedAt),
            "reason": onboarding.reason ?? "",
        ]
    }

    static func event(_ event: EventView) -> [String: Any] {
        [
            "version": event.version,
            "time": time(event.recordedAt),
            "actor": event.actor ?? "",
            "type": event.type,
            "summary": OnboardingEvent.summary(type: event.type, data: event.data),
            "onboardingId": event.streamId,
            "onboardingLink": path("onboardings", event.streamId),
            "versionLink": path("onboardings", event.streamId) + "?at=\(event.version)",
        ]
    }

    /// A field's input, by its type: the control to draw, what was typed (or the default), and the problem.
    static func output(
        _ output: TaskView.Output, typed: String?, problem: String?
    ) -> [String: Any] {
        let value = typed ?? output.default.map(\.displayText) ?? ""
        var values: [String: Any] = [
            "name": output.name,
            "inputName": "output." + output.name,
            "inputId": "output-" + output.name,
            "title": output.title ?? output.name,
            "type": output.type,
            "required": output.required,
            "value": value,
            "problem": problem ?? "",
            "hasProblem": problem != nil,
            "pattern": output.pattern ?? "",
            "hasPattern": output.pattern != nil,
        ]
        switch output.type {
        case "enum":
            values["isSelect"] = true
            values["options"] = (output.values ?? []).map { ["option": $0, "selected": $0 == value] }
        case "boolean":
            values["isSelect"] = true
            values["options"] = ["true", "false"].map { ["option": $0, "selected": $0 == value] }
        case "text":
            values["isTextArea"] = true
        default:
            values["isInput"] = true
            values["inputType"] =
                switch output.type {
                case "email": "email"
                case "url": "url"
                case "integer": "number"
                default: "text"
                }
            values["inputMode"] = output.type == "upn" ? "email" : ""
        }
        return values
    }
}
