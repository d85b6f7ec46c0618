import Foundation
import HTTPTypes
import HandoffCore
import HandoffService
import HandoffStore
import Hummingbird
import Timestamps

/// The dashboard: server-rendered pages at `/dashboard` for the people of an onboarding (the inbox of their
/// roles' tasks, a task's page with its form, an onboarding's history and flow) and `/events/stream`, which
/// keeps open pages current.
///
/// Every action is a plain form that posts and redirects, so the pages work without JavaScript; the script only
/// refreshes parts of a page when the stream says something happened. Handlers call the engine the API calls,
/// with the signed-in caller, so the roles rules are the API's: the pages offer only what the caller may do, and
/// the engine refuses anything else anyway.
struct Dashboard {
    let engine: Engine
    let pages: Pages
    let authenticator: Authenticator
    let feed: LiveFeed
    let flow: FlowPicture
    let maximumBodySize: Int

    typealias Context = HandoffRequestContext

    func add(to router: Router<Context>, methods: MethodTable) {
        let open = RecordingRoutes(base: router.group().add(middleware: DashboardErrors(pages: pages)), table: methods)
        open.get("/dashboard/sign-in") { request, context in try await signInPage(request, context) }
        open.post("/dashboard/sign-in") { request, context in try await signIn(request, context) }
        open.get("/dashboard/assets/:file") { _, context in try asset(context) }

        let signedIn = RecordingRoutes(
            base: router.group()
                .add(middleware: SessionAuthentication(authenticator: authenticator, redirects: true))
                .add(middleware: DashboardErrors(pages: pages)),
            table: methods)
        signedIn.get("/dashboard") { _, context in try await overview(context) }
        signedIn.get("/dashboard/inbox") { request, context in try await inbox(request, context) }
        signedIn.get("/dashboard/onboardings") { request, context in try await onboardings(request, context) }
        signedIn.get("/dashboard/onboardings/:id") { request, context in
            try await onboarding(try Routes.parameter("id", context), request, context)
        }
        signedIn.get("/dashboard/tasks") { request, context in try await tasks(request, context) }
        signedIn.get("/dashboard/tasks/:id") { _, context in
            try await taskPage(try Routes.parameter("id", context), context)
        }
        signedIn.post("/dashboard/tasks/:id/claim") { request, context in
            try await act(on: try Routes.parameter("id", context), request, context) { task, caller in
                .claim(task: task, roles: caller.roles)
            }
        }
        signedIn.post("/dashboard/tasks/:id/release") { request, context in
            try await act(on: try Routes.parameter("id", context), request, context) { task, _ in .release(task: task) }
        }
        signedIn.post("/dashboard/tasks/:id/complete") { request, context in
            try await complete(try Routes.parameter("id", context), request, context)
        }
        signedIn.post("/dashboard/sign-out") { request, context in try await signOut(request, context) }

        let stream = RecordingRoutes(
            base: router.group().add(middleware: SessionAuthentication(authenticator: authenticator, redirects: false)),
            table: methods)
        stream.get("/events/stream") { request, _ in
            try await EventStream(engine: engine, feed: feed).response(request)
        }
    }

    // MARK: Signing in and out

    func signInPage(_ request: Request, _ context: Context) async throws -> Response {
        let next = Self.safeNext(Query(request).single("next"))
        if let token = request.cookies[Session.cookieName]?.value, !token.isEmpty,
            (try? await authenticator.caller(token: token)) != nil
        {
            return .redirect(to: next, type: .normal)
        }
        return pages.render("sign-in", ["title": "Sign in", "next": next])
    }

    func signIn(_ request: Request, _ context: Context) async throws -> Response {
        let form = try await Form.read(request, limit: maximumBodySize)
        try Session.checkForm(form, request, context)
        let next = Self.safeNext(form.value("next"))
        let token = (form.value("token") ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        do throws(EngineError) {
            guard !token.isEmpty else { throw EngineError(.unauthorized, "paste a token to sign in") }
            _ = try await authenticator.caller(token: token)
        } catch {
            guard error.code == .unauthorized else { throw error }
            return pages.render(
                "sign-in", ["title": "Sign in", "next": next, "error": "That token is not valid: it is unknown, revoked or expired."],
                status: .unauthorized)
        }
        var response = Response.redirect(to: next, type: .normal)
        response.setCookie(Session.cookie(token, secure: Session.isSecure(request)))
        return response
    }

    func signOut(_ request: Request, _ context: Context) async throws -> Response {
        let form = try await Form.read(request, limit: maximumBodySize)
        try Session.checkForm(form, request, context)
        var response = Response.redirect(to: "/dashboard/sign-in", type: .normal)
        response.setCookie(Session.cookie(nil, secure: Session.isSecure(request)))
        return response
    }

    /// Where to go after signing in: a dashboard page of this server, nothing else (no other site, no `//host`).
    static func safeNext(_ next: String?) -> String {
        guard let next, next.hasPrefix("/dashboard"), !next.contains("//"), !next.contains("\\"),
            !next.unicodeScalars.contains(where: { $0.value < 0x20 })
        else { return "/dashboard" }
        return next
    }

    func asset(_ context: Context) throws -> Response {
        let name = try Routes.parameter("file", context)
        guard let asset = pages.assets[name] else { throw EngineError(.notFound, "no dashboard asset '\(name)'") }
        return Response(
            status: .ok, headers: [.contentType: asset.type, .cacheControl: "max-age=300", .xContentTypeOptions: "nosniff"],
            body: .init(byteBuffer: .init(bytes: asset.bytes)))
    }

    // MARK: Pages

    func overview(_ context: Context) async throws -> Response {
        let stats = try await engine.stats()
        let recent = try await engine.recentEvents(limit: 20)
        let latest = try await engine.onboardings(OnboardingQuery(), limit: 20, after: nil)
        var values = PageValues.frame(context, title: "Overview", nav: "overview")
        values["onboardingGroups"] = stats.onboardings.map { group -> [String: Any] in
            var query = "workflow=\(Form.encode(group.workflow))&state=\(Form.encode(group.state))"
            if let step = group.step { query += "&step=\(Form.encode(step))" }
            return [
                "workflow": group.workflow, "state": group.state, "step": group.step ?? "—", "count": group.count,
                "link": "/dashboard/onboardings?" + query,
            ]
        }
        values["taskRoles"] = stats.tasks.map { role -> [String: Any] in
            [
                "role": role.role, "open": role.open, "claimed": role.claimed, "overdue": role.overdue,
                "hasOverdue": role.overdue > 0, "link": "/dashboard/tasks?role=\(Form.encode(role.role))",
            ]
        }
        values["stepTimings"] = stats.steps.map { step -> [String: Any] in
            [
                "workflow": step.workflow, "role": step.role, "step": step.step, "open": step.open,
                "completed": step.completed, "waitMedian": PageValues.duration(step.waitMedianSeconds),
                "waitP90": PageValues.duration(step.waitP90Seconds),
                "completeMedian": PageValues.duration(step.completeMedianSeconds),
                "completeP90": PageValues.duration(step.completeP90Seconds),
            ]
        }
        values["onboardings"] = latest.items.map(PageValues.onboardingRow)
        values["activity"] = recent.map(PageValues.event)
        return pages.render("overview", values)
    }

    func inbox(_ request: Request, _ context: Context) async throws -> Response {
        let caller = try context.requireCaller()
        let now = engine.now
        let roles = caller.roles.sorted()
        let open = roles.isEmpty ? [] : try await engine.tasks(TaskQuery(roles: roles, states: ["open"]), limit: 200, after: nil).items
        let mine = try await engine.tasks(TaskQuery(states: ["claimed"], assignee: caller.name), limit: 200, after: nil).items
        var values = PageValues.frame(context, title: "Inbox", nav: "inbox")
        values["open"] = open.map { PageValues.task($0, caller: caller, now: now) }
        values["mine"] = mine.map { PageValues.task($0, caller: caller, now: now) }
        if let done = Query(request).single("done"), !done.isEmpty {
            values["flash"] = "Completed \(done). The onboarding moved on."
        }
        return pages.render("inbox", values)
    }

    func onboardings(_ request: Request, _ context: Context) async throws -> Response {
        let query = Query(request)
        func given(_ name: String) -> String? { query.single(name).flatMap { $0.isEmpty ? nil : $0 } }
        let filter = OnboardingQuery(workflowId: given("workflow"), state: given("state"), step: given("step"))
        let page = try await engine.onboardings(filter, limit: 50, after: given("after"))
        var values = PageValues.frame(context, title: "Onboardings", nav: "onboardings")
        values["onboardings"] = page.items.map(PageValues.onboardingRow)
        values["filter"] = [filter.workflowId, filter.state, filter.step].compactMap { $0 }.joined(separator: " · ")
        if let next = page.next {
            var link = "/dashboard/onboardings?after=\(Form.encode(next))"
            for (name, value) in [("workflow", filter.workflowId), ("state", filter.state), ("step", filter.step)] {
                if let value { link += "&\(name)=\(Form.encode(value))" }
            }
            values["next"] = link
        }
        return pages.render("onboardings", values)
    }

    func tasks(_ request: Request, _ context: Context) async throws -> Response {
        let caller = try context.requireCaller()
        let query = Query(request)
        func given(_ name: String) -> String? { query.single(name).flatMap { $0.isEmpty ? nil : $0 } }
        let role = given("role"), state = given("state")
        let page = try await engine.tasks(
            TaskQuery(roles: role.map { [$0] } ?? [], states: state.map { [$0] } ?? []), limit: 50, after: given("after"))
        let now = engine.now
        var values = PageValues.frame(context, title: "Tasks", nav: "tasks")
        values["tasks"] = page.items.map { PageValues.task($0, caller: caller, now: now) }
        values["filter"] = [role, state].compactMap { $0 }.joined(separator: " · ")
        if let next = page.next {
            var link = "/dashboard/tasks?after=\(Form.encode(next))"
            if let role { link += "&role=\(Form.encode(role))" }
            if let state { link += "&state=\(Form.encode(state))" }
            values["next"] = link
        }
        return pages.render("tasks", values)
    }

    func onboarding(_ id: String, _ request: Request, _ context: Context) async throws -> Response {
        let caller = try context.requireCaller()
        let history = try await engine.history(id)
        let latestVersion = history.last?.version ?? 0
        var at: Int64?
        if let text = Query(request).single("at"), !text.isEmpty {
            guard let version = Int64(text), (1...latestVersion).contains(version) else {
                throw EngineError(.invalidInput, "at is a version from 1 to \(latestVersion), not '\(text)'")
            }
            at = version == latestVersion ? nil : version
        }
        let view = try await engine.replay(id, at: at.map { .version($0) } ?? .latest)
        let onboarding = view.onboarding
        let now = engine.now
        var values = PageValues.frame(context, title: "Onboarding \(id)", nav: "onboardings")
        values["onboarding"] = PageValues.onboardingRow(onboarding).merging([
            "version": view.version, "started": PageValues.time(onboarding.startedAt),
            "isActive": onboarding.state == "active", "hasReason": onboarding.reason != nil,
            "signals": onboarding.awaitedSignals.joined(separator: ", "), "hasSignals": !onboarding.awaitedSignals.isEmpty,
        ]) { $1 }
        values["inputs"] = onboarding.inputs.keys.sorted().map { ["name": $0, "value": onboarding.inputs[$0]?.displayText ?? ""] }
        values["variables"] = onboarding.variables.keys.sorted().map {
            ["name": $0, "value": onboarding.variables[$0]?.displayText ?? ""]
        }
        values["openTasks"] = view.tasks.filter { $0.state == "open" || $0.state == "claimed" }
            .map { PageValues.task($0, caller: caller, now: now) }
        values["timeline"] = history.map { event -> [String: Any] in
            var row = PageValues.event(event)
            row["isLater"] = at.map { event.version > $0 } ?? false
            row["isShown"] = event.version == view.version
            return row
        }
        values["isReplay"] = at != nil
        values["shownVersion"] = view.version
        values["latestVersion"] = latestVersion
        values["latestLink"] = PageValues.path("onboardings", id)
        var marks: [String: WorkflowGraph.Mark] = [:]
        for task in view.tasks where task.state == "completed" { marks[task.path] = .done }
        for step in onboarding.currentSteps { marks[step] = .current }
        let definition = try await engine.pinnedDefinition(onboarding.contentHash)
        if let svg = await flow.svg(definition, marks: marks) {
            values["flow"] = svg
        } else {
            values["flowMissing"] = true
            values["currentSteps"] = onboarding.currentSteps.joined(separator: ", ")
        }
        return pages.render("onboarding", values)
    }

    func taskPage(
        _ id: String, _ context: Context, form: Form? = nil, problems: [FieldProblem] = [], error: String? = nil,
        status: HTTPResponse.Status = .ok
    ) async throws -> Response {
        let caller = try context.requireCaller()
        let task = try await engine.task(id)
        let onboarding = try await engine.onboarding(task.onboardingId)
        let now = engine.now
        var byField: [String: String] = [:]
        for problem in problems { byField[problem.field, default: ""] += (byField[problem.field] == nil ? "" : "; ") + problem.reason }
        var values = PageValues.frame(context, title: task.title, nav: "inbox")
        values["task"] = PageValues.task(task, caller: caller, now: now)
        values["completePath"] = PageValues.path("tasks", task.id, "complete")
        values["onboarding"] = PageValues.onboardingRow(onboarding)
        values["instructions"] = SafeMarkdown.html(task.instructions)
        values["hasInstructions"] = !task.instructions.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty
        let ticked = form.map { Set($0.values("check")) } ?? Set(task.checked ?? [])
        values["checklist"] = task.checklist.map { item -> [String: Any] in
            [
                "id": item.id, "text": item.text, "inputId": "check-" + item.id, "checked": ticked.contains(item.id),
                "problem": byField[item.id] ?? "", "hasProblem": byField[item.id] != nil,
            ]
        }
        values["outputs"] = task.outputs.map { output in
            PageValues.output(output, typed: form?.value("output." + output.name), problem: byField[output.name])
        }
        values["hasOutputs"] = !task.outputs.isEmpty
        values["hasChecklist"] = !task.checklist.isEmpty
        if let result = task.result {
            values["result"] = result.keys.sorted().map { ["name": $0, "value": result[$0]?.displayText ?? ""] }
        }
        values["completedBy"] = task.completedBy ?? ""
        values["isCompleted"] = task.state == "completed"
        values["commandId"] = UUID().uuidString
        if let error {
            values["error"] = error
        }
        return pages.render("task", values, status: status)
    }

    // MARK: Actions

    /// Runs a claim or a release from a task page's form, then shows the task again (with the refusal, if any).
    func act(
        on id: String, _ request: Request, _ context: Context, _ command: (String, Caller) -> Command
    ) async throws -> Response {
        let form = try await Form.read(request, limit: maximumBodySize)
        try Session.checkForm(form, request, context)
        let caller = try context.requireCaller()
        do {
            _ = try await engine.execute(command(id, caller), by: caller, commandId: Self.commandId(form, caller))
        } catch {
            guard Self.isShownOnThePage(error) else { throw error }
            return try await taskPage(id, context, error: error.message, status: .init(code: error.code.status))
        }
        return .redirect(to: PageValues.path("tasks", id), type: .normal)
    }

    /// Completes a task from its form: `output.<name>` fields (empty ones left out, so defaults and `required`
    /// apply) and the ticked `check` boxes. A refusal shows the form again with what was typed, each problem beside
    /// its field.
    func complete(_ id: String, _ request: Request, _ context: Context) async throws -> Response {
        let form = try await Form.read(request, limit: maximumBodySize)
        try Session.checkForm(form, request, context)
        let caller = try context.requireCaller()
        var outputs: [String: Value] = [:]
        for (name, value) in form.fields where name.hasPrefix("output.") && !value.isEmpty {
            outputs[String(name.dropFirst("output.".count))] = .string(value)
        }
        let command = Command.complete(task: id, outputs: outputs, checklist: Set(form.values("check")))
        do {
            _ = try await engine.execute(command, by: caller, commandId: Self.commandId(form, caller))
        } catch {
            guard Self.isShownOnThePage(error) else { throw error }
            return try await taskPage(
                id, context, form: form, problems: error.problems, error: error.message,
                status: .init(code: error.code.status))
        }
        return .redirect(to: "/dashboard/inbox?done=\(Form.encode(id))", type: .normal)
    }

    /// A refusal the task page shows beside the form; an unavailable database or a fault gets the error page.
    static func isShownOnThePage(_ error: EngineError) -> Bool {
        error.code != .databaseUnavailable && error.code != .internal
    }

    /// The form's own id (made when the page was drawn), so a form sent twice (a double click, a resend after a
    /// timeout) acts once. Keyed by the caller, so one person's id never answers for another's.
    static func commandId(_ form: Form, _ caller: Caller) -> String? {
        guard let id = form.value("_command"), !id.isEmpty, id.utf8.count <= 100 else { return nil }
        return caller.commandId(key: id, scope: "dashboard")
    }
}

/// Dashboard failures as pages: a refusal or an engine error shows the error page with its status, and who is
/// signed in.
struct DashboardErrors: RouterMiddleware {
    typealias Context = HandoffRequestContext
    let pages: Pages

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        do {
            return try await next(request, context)
        } catch let refusal as DashboardRefusal {
            return page(refusal.message, status: refusal.status, context)
        } catch let error as EngineError {
            if error.code == .internal { context.logger.error("internal error", metadata: ["error": "\(error.message)"]) }
            return page(error.message, status: .init(code: error.code.status), context, code: error.code.rawValue)
        }
    }

    func page(_ message: String, status: HTTPResponse.Status, _ context: Context, code: String = "") -> Response {
        var values = PageValues.frame(context, title: status.reasonPhrase, nav: "")
        values["message"] = message
        values["code"] = code
        values["status"] = status.code
        return pages.render("error", values, status: status)
    }
}
