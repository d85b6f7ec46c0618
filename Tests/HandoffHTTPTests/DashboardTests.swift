import AsyncHTTPClient
import Foundation
import HTTPTypes
import HandoffCore
@testable import HandoffHTTP
import HandoffService
import HandoffStore
import HandoffTestSupport
import NIOCore
import Testing

/// Dashboard requests as a browser sends them: a session cookie, urlencoded forms.
struct Browser: Sendable {
    let api: API
    var cookie: String?

    func get(_ path: String, headers: [String: String] = [:]) async throws -> Reply {
        var extra = headers
        if let cookie { extra["Cookie"] = cookie }
        return try await api.send(.get, path, headers: extra)
    }

    func post(_ path: String, _ fields: [(String, String)], headers: [String: String] = [:]) async throws -> Reply {
        var extra = headers
        extra["Content-Type"] = "application/x-www-form-urlencoded"
        if let cookie { extra["Cookie"] = cookie }
        let body = fields.map { "\(Form.encode($0.0))=\(Form.encode($0.1))" }.joined(separator: "&")
        return try await api.send(.post, path, body: body, headers: extra)
    }

    /// Signs in with `person`'s token: the browser now sends the session cookie the server set.
    static func signedIn(_ api: API, as person: String) async throws -> Browser {
        let browser = Browser(api: api, cookie: nil)
        let reply = try await browser.post("/dashboard/sign-in", [("token", api.tokens[person]!), ("next", "/dashboard/inbox")])
        #expect(reply.status == 303, "\(reply.text)")
        let setCookie = try #require(reply.headers[.setCookie])
        let pair = try #require(setCookie.split(separator: ";").first.map(String.init))
        return Browser(api: api, cookie: pair)
    }

    /// The CSRF token of the forms on `page`.
    static func csrf(in page: Reply) throws -> String {
        let match = try #require(page.text.firstMatch(of: #/name="_csrf" value="([0-9a-f]+)"/#), "the page has no form")
        return String(match.output.1)
    }
}

@Suite("The dashboard over HTTP")
struct DashboardTests {
    @Test func signingInSetsAnHttpOnlyStrictSessionCookieAndThePageShowsWhoIsSignedIn() async throws {
        let fixture = try await HTTPFixture.make()
        try await fixture.start("d1")
        try await fixture.withServer { api in
            let anonymous = Browser(api: api, cookie: nil)
            let signIn = try await anonymous.post("/dashboard/sign-in", [("token", api.tokens["alice"]!), ("next", "/dashboard/inbox")])
            #expect(signIn.status == 303)
            #expect(signIn.headers[.location] == "/dashboard/inbox")
            let cookie = try #require(signIn.headers[.setCookie])
            #expect(cookie.hasPrefix("handoff_session=\(api.tokens["alice"]!)"))
            for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
                #expect(cookie.contains(attribute), "the session cookie lacks \(attribute): \(cookie)")
            }

            let browser = Browser(api: api, cookie: String(cookie.split(separator: ";")[0]))
            let inbox = try await browser.get("/dashboard/inbox")
            #expect(inbox.status == 200)
            #expect(inbox.text.contains(#"<strong id="signed-in-user">alice</strong>"#))
            #expect(inbox.text.contains(#"<span class="roles" id="signed-in-roles">customer_admin</span>"#))
            #expect(inbox.text.contains(#"data-task="d1-t1""#), "the inbox does not list the open task")
            #expect(inbox.headers[.contentSecurityPolicy]?.contains("script-src 'self'") == true)
            #expect(inbox.headers[.cacheControl] == "no-store")

            // A token that is not valid signs nobody in.
            let bad = try await anonymous.post("/dashboard/sign-in", [("token", "hnd_nope"), ("next", "/dashboard")])
            #expect(bad.status == 401)
            #expect(bad.text.contains("That token is not valid"))
            #expect(bad.headers[.setCookie] == nil)

            // Signing out needs the form's token too; then the cookie is cleared.
            let forged = try await browser.post("/dashboard/sign-out", [])
            #expect(forged.status == 403)
            let out = try await browser.post("/dashboard/sign-out", [("_csrf", try Browser.csrf(in: inbox))])
            #expect(out.status == 303)
            #expect(out.headers[.location] == "/dashboard/sign-in")
            #expect(out.headers[.setCookie]?.contains("Max-Age=0") == true)
        }
    }

    /// After signing in, only this server's dashboard pages are a destination: never another site.
    @Test(arguments: ["https://evil.example/", "//evil.example/dashboard", "/dashboard\\..\\x", "/elsewhere"])
    func signingInNeverRedirectsOffTheDashboard(next: String) async throws {
        let fixture = try await HTTPFixture.make()
        try await fixture.withServer { api in
            let reply = try await Browser(api: api, cookie: nil).post("/dashboard/sign-in", [("token", api.tokens["alice"]!), ("next", next)])
            #expect(reply.status == 303)
            #expect(reply.headers[.location] == "/dashboard")
        }
    }

    @Test(arguments: [
        "/dashboard", "/dashboard/inbox", "/dashboard/onboardings", "/dashboard/onboardings/d1", "/dashboard/tasks",
        "/dashboard/tasks/d1-t1", "/dashboard/onboardings/d1?at=2",
    ])
    func aSignedOutRequestToAnyPageRedirectsToSignIn(path: String) async throws {
        let fixture = try await HTTPFixture.make()
        try await fixture.start("d1")
        try await fixture.withServer { api in
            let reply = try await Browser(api: api, cookie: nil).get(path)
            #expect(reply.status == 303)
            #expect(reply.headers[.location] == "/dashboard/sign-in?next=" + Form.encode(path), "\(path)")

            // A cookie whose token was revoked is no session: sent to sign in, and the cookie is cleared.
            let stale = Browser(api: api, cookie: "handoff_session=hnd_revoked_or_never_made")
            let again = try await stale.get(path)
            #expect(again.status == 303)
            #expect(again.headers[.setCookie]?.contains("Max-Age=0") == true)
        }
    }

    @Test func signedOutPostsAndTheEventStreamAreRefusedAndWriteNothing() async throws {
        let fixture = try await HTTPFixture.make()
        try await fixture.start("d1")
        let before = try await fixture.contents()
        try await fixture.withServer { api in
            let anonymous = Browser(api: api, cookie: nil)
            for path in ["/dashboard/tasks/d1-t1/claim", "/dashboard/tasks/d1-t1/complete", "/dashboard/tasks/d1-t1/release"] {
                let reply = try await anonymous.post(path, [("output.client_id", "C-1")])
                #expect(reply.status == 303, "\(path)")
                #expect(reply.headers[.location]?.hasPrefix("/dashboard/sign-in") == true)
            }
            let stream = try await anonymous.get("/events/stream")
            #expect(stream.status == 401)
            #expect(stream.code == "unauthorized")
        }
        #expect(try await fixture.contents() == before)
    }

    @Test func aForgedFormPostWithoutTheCSRFTokenIsRefusedAndWritesNothing() async throws {
        let fixture = try await HTTPFixture.make()
        try await fixture.start("d1")
        try await fixture.withServer { api in
            let alice = try await Browser.signedIn(api, as: "alice")
            let page = try await alice.get("/dashboard/tasks/d1-t1")
            let csrf = try Browser.csrf(in: page)
            let before = try await fixture.contents()
            let missing = try await alice.post("/dashboard/tasks/d1-t1/claim", [])
            #expect(missing.status == 403)
            #expect(missing.text.contains("security token is missing or stale"))
            let wrong = try await alice.post("/dashboard/tasks/d1-t1/claim", [("_csrf", String(repeating: "0", count: 64))])
            #expect(wrong.status == 403)
            // Another user's token is not this session's.
            let pat = try await Browser.signedIn(api, as: "pat")
            let patsToken = try Browser.csrf(in: try await pat.get("/dashboard/inbox"))
            let borrowed = try await alice.post("/dashboard/tasks/d1-t1/claim", [("_csrf", patsToken)])
            #expect(borrowed.status == 403)
            let crossSite = try await alice.post(
                "/dashboard/tasks/d1-t1/claim", [("_csrf", csrf)], headers: ["Origin": "http://evil.example"])
            #expect(crossSite.status == 403)
            #expect(crossSite.text.contains("not from Handoff"))
            let completion = try await alice.post("/dashboard/tasks/d1-t1/complete", [("output.client_id", "C-1")])
            #expect(completion.status == 403)
            #expect(try await fixture.contents() == before)

            let claimed = try await alice.post("/dashboard/tasks/d1-t1/claim", [("_csrf", csrf)])
            #expect(claimed.status == 303)
            #expect(claimed.headers[.location] == "/dashboard/tasks/d1-t1")
        }
        #expect(try await fixture.engine.task("d1-t1").assignee == "alice")
    }

    @Test func pagesTakeTheBearerHeaderAndItsFormsNeedNoSessionToken() async throws {
        let fixture = try await HTTPFixture.make()
        try await fixture.start("d1")
        try await fixture.withServer { api in
            let overview = try await api.get("/dashboard", as: "olivia")
            #expect(overview.status == 200)
            #expect(overview.text.contains(#"<strong id="signed-in-user">olivia</strong>"#))
            #expect(!overview.text.contains("/dashboard/sign-out"), "a bearer caller has no session to sign out of")
            let claimed = try await api.send(
                .post, "/dashboard/tasks/d1-t1/claim", as: "alice", body: "",
                headers: ["Content-Type": "application/x-www-form-urlencoded"])
            #expect(claimed.status == 303)
            let refused = try await api.send(.get, "/dashboard", token: "hnd_nope")
            #expect(refused.status == 401)
        }
    }

    @Test func eachRoleIsOfferedOnlyWhatItMayDoAndTheServerRefusesTheRest() async throws {
        let fixture = try await HTTPFixture.make()
        try await fixture.start("d1")
        try await fixture.withServer { api in
            let pat = try await Browser.signedIn(api, as: "pat")
            let page = try await pat.get("/dashboard/tasks/d1-t1")
            #expect(page.status == 200)
            #expect(!page.text.contains(#"id="claim""#), "the partner integration manager is offered the claim")
            #expect(!page.text.contains("complete-form"))
            let inbox = try await pat.get("/dashboard/inbox")
            #expect(!inbox.text.contains(#"data-task="d1-t1""#))
            let before = try await fixture.contents()
            let refused = try await pat.post("/dashboard/tasks/d1-t1/claim", [("_csrf", try Browser.csrf(in: page))])
            #expect(refused.status == 403)
            #expect(refused.text.contains("is for role &#39;customer_admin&#39;"), "\(refused.text)")
            #expect(try await fixture.contents() == before)

            // The holder may complete and release; someone else of the role may do neither.
            let alice = try await Browser.signedIn(api, as: "alice")
            let csrf = try Browser.csrf(in: try await alice.get("/dashboard/tasks/d1-t1"))
            _ = try await alice.post("/dashboard/tasks/d1-t1/claim", [("_csrf", csrf)])
            let held = try await alice.get("/dashboard/tasks/d1-t1")
            #expect(held.text.contains(#"id="release""#) && held.text.contains("complete-form"))
            let sam = try await Browser.signedIn(api, as: "sam")
            let seen = try await sam.get("/dashboard/tasks/d1-t1")
            #expect(!seen.text.contains(#"id="release""#) && !seen.text.contains("complete-form"))
            let admin = try await Browser.signedIn(api, as: "olivia")
            let adminSees = try await admin.get("/dashboard/tasks/d1-t1")
            #expect(adminSees.text.contains(#"id="release""#), "an admin may release someone else's claim")
            #expect(!adminSees.text.contains("complete-form"))
        }
    }

    @Test func aRefusedCompletionShowsEachProblemBesideItsFieldAndKeepsWhatWasTyped() async throws {
        let fixture = try await HTTPFixture.make()
        try await fixture.start("d1")
        try await fixture.withServer { api in
            let alice = try await Browser.signedIn(api, as: "alice")
            let csrf = try Browser.csrf(in: try await alice.get("/dashboard/tasks/d1-t1"))
            _ = try await alice.post("/dashboard/tasks/d1-t1/claim", [("_csrf", csrf)])
            let before = try await fixture.contents()
            let refused = try await alice.post(
                "/dashboard/tasks/d1-t1/complete", [("_csrf", csrf), ("check", "client-synced"), ("output.client_id", "")])
            #expect(refused.status == 422)
            #expect(refused.text.contains(#"<span class="problem" id="output-client_id-problem">is required</span>"#), "\(refused.text)")
            #expect(refused.text.contains(#"value="client-synced" id="check-client-synced" checked"#), "the ticked box was not kept")
            #expect(!refused.text.contains(#"value="client-listed" id="check-client-listed" checked"#))
            #expect(try await fixture.contents() == before)

            let done = try await alice.post(
                "/dashboard/tasks/d1-t1/complete",
                [("_csrf", csrf), ("check", "client-synced"), ("check", "client-listed"), ("output.client_id", "C-7"), ("_command", "form-1")])
            #expect(done.status == 303)
            #expect(done.headers[.location] == "/dashboard/inbox?done=d1-t1")
            // The same form sent again (a double click) acts once.
            let again = try await alice.post(
                "/dashboard/tasks/d1-t1/complete",
                [("_csrf", csrf), ("check", "client-synced"), ("check", "client-listed"), ("output.client_id", "C-7"), ("_command", "form-1")])
            #expect(again.status == 303)
        }
        #expect(try await fixture.engine.task("d1-t1").result?["client_id"] == "C-7")
        try await fixture.expectInvariants()
    }

    /// Inputs and outputs that hold markup, quotes and ampersands show as text on every page.
    @Test func markupInInputsAndOutputsIsShownAsTextOnEveryPage() async throws {
        let fixture = try await HTTPFixture.make()
        let hostile = #"<script>alert("x")</script> & 'Co' <img src=x onerror=alert(1)>"#
        _ = try await fixture.engine.start(
            workflow: "mail-send", inputs: ["company": .string(hostile), "path": "standard"], id: "x1", actor: "olivia")
        _ = try await fixture.engine.claim(taskId: "x1-t1", user: "alice", roles: ["customer_admin"])
        _ = try await fixture.engine.complete(
            taskId: "x1-t1", user: "alice", outputs: ["client_id": .string(#"C-1"><script>alert(2)</script>&amp;"#)],
            checklist: ["client-synced", "client-listed"])
        try await fixture.withServer { api in
            let olivia = try await Browser.signedIn(api, as: "olivia")
            let alice = try await Browser.signedIn(api, as: "alice")
            // Each page, and whether it shows the company (every page that does must show it as text).
            let pages: [(Browser, String, Bool)] = [
                (olivia, "/dashboard", true), (alice, "/dashboard/inbox", false), (olivia, "/dashboard/onboardings", true),
                (olivia, "/dashboard/onboardings/x1", true), (olivia, "/dashboard/onboardings/x1?at=2", true),
                (olivia, "/dashboard/tasks", false), (alice, "/dashboard/tasks/x1-t1", true), (alice, "/dashboard/tasks/x1-t2", true),
            ]
            for (browser, path, showsCompany) in pages {
                let page = try await browser.get(path)
                #expect(page.status == 200, "\(path)")
                #expect(!page.text.contains("<script>alert"), "\(path) holds live markup")
                #expect(!page.text.contains("<img src=x"), "\(path) holds live markup")
                if showsCompany {
                    #expect(page.text.contains("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;Co&#39;"),
                            "\(path) does not show the company as text")
                }
            }
            let task = try await alice.get("/dashboard/tasks/x1-t1")
            #expect(task.text.contains("C-1&quot;&gt;&lt;script&gt;alert(2)&lt;/script&gt;&amp;amp;"), "the output is not shown as typed")
        }
    }

    @Test func theOnboardingPageShowsItsFlowTimelineAndAnyEarlierVersion() async throws {
        let fixture = try await HTTPFixture.make()
        try await fixture.start("d1")
        try await fixture.withServer { api in
            let olivia = try await Browser.signedIn(api, as: "olivia")
            let page = try await olivia.get("/dashboard/onboardings/d1")
            #expect(page.status == 200)
            #expect(page.text.contains("<svg"), "the flow is not drawn")
            #expect(page.text.contains(#"class="node current""#), "the current step is not marked")
            #expect(page.text.contains("OnboardingStarted") && page.text.contains("TaskOpened"))
            let earlier = try await olivia.get("/dashboard/onboardings/d1?at=1")
            #expect(earlier.text.contains("The state as it was at version 1 of 4"))
            #expect(earlier.text.contains(#"<li class="later"><a class="version" href="/dashboard/onboardings/d1?at=3">v3</a>"#))
            for bad in ["0", "5", "x"] {
                let refused = try await olivia.get("/dashboard/onboardings/d1?at=\(bad)")
                #expect(refused.status == 422, "at=\(bad)")
                #expect(refused.text.contains("at is a version from 1 to 4"))
            }
            let missing = try await olivia.get("/dashboard/onboardings/nope")
            #expect(missing.status == 404)
            #expect(missing.text.contains("no onboarding &#39;nope&#39;"))
        }
    }

    @Test func theStylesheetAndScriptAreServedByHandoffItself() async throws {
        let fixture = try await HTTPFixture.make()
        try await fixture.withServer { api in
            let anonymous = Browser(api: api, cookie: nil)
            let css = try await anonymous.get("/dashboard/assets/handoff.css")
            #expect(css.status == 200)
            #expect(css.headers[.contentType] == "text/css; charset=utf-8")
            let script = try await anonymous.get("/dashboard/assets/handoff.js")
            #expect(script.text.contains("new EventSource(\"/events/stream\")"))
            #expect(try await anonymous.get("/dashboard/assets/nope.js").status == 404)
            let signIn = try await anonymous.get("/dashboard/sign-in")
            #expect(!signIn.text.contains("http://") && !signIn.text.contains("https://"), "the page loads something from elsewhere")
        }
    }
}

@Suite("The event stream")
struct EventStreamTests {
    /// Reads the stream until `text` arrives; fails after `seconds`.
    static func read(
        _ iterator: inout HTTPClientResponse.Body.AsyncIterator, until text: String, seconds: Double = 10
    ) async throws -> String {
        var received = ""
        let deadline = ContinuousClock.now + .seconds(seconds)
        while !received.contains(text) {
            guard ContinuousClock.now < deadline else { break }
            guard let chunk = try await iterator.next() else { break }
            received += String(buffer: chunk)
        }
        return received
    }

    static func open(_ port: Int, cookie: String, lastEventID: String? = nil) async throws -> (HTTPClient, HTTPClientResponse) {
        let client = HTTPClient.forTests()
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/events/stream")
        request.headers.add(name: "Cookie", value: cookie)
        if let lastEventID { request.headers.add(name: "Last-Event-ID", value: lastEventID) }
        return (client, try await client.execute(request, timeout: .seconds(30)))
    }

    @Test func anEventAppendedByAnotherProcessReachesAConnectedClientAndResumesAfterTheLastId() async throws {
        let fixture = try await HTTPFixture.make()
        try await fixture.withServer { api in
            let port = try #require(api.client.port)
            let alice = try await Browser.signedIn(api, as: "alice")
            let (client, response) = try await Self.open(port, cookie: alice.cookie!)
            #expect(response.status.code == 200)
            #expect(response.headers["Content-Type"].first == "text/event-stream")
            var events = response.body.makeAsyncIterator()
            _ = try await Self.read(&events, until: ": connected")

            // Another process appends: the CLI starts an onboarding on the same database.
            let started = try await HandoffProcess.run(
                ["start", "mail-send", "--input", "company=Contoso", "--input", "path=standard", "--id", "sse1"],
                environment: [
                    "DATABASE_URL": fixture.database.connectionString, "HANDOFF_WORKFLOWS": Repository.workflows.path,
                    "HANDOFF_MIGRATIONS": Repository.migrations.path,
                ])
            #expect(started.status == 0, "\(started.stderr)")
            let received = try await Self.read(&events, until: #""type":"TaskOpened""#)
            #expect(received.contains(#""streamId":"sse1""#), "\(received)")
            #expect(received.contains(#""type":"OnboardingStarted""#))
            let first = try #require(received.firstMatch(of: #/id: (\d+/\d+)\n/#)).output.1
            try await client.shutdown()

            // Reconnecting with the first event's id gets what came after it, without waiting for anything new.
            let (again, resumed) = try await Self.open(port, cookie: alice.cookie!, lastEventID: String(first))
            var rest = resumed.body.makeAsyncIterator()
            let replayed = try await Self.read(&rest, until: #""type":"TaskOpened""#)
            #expect(replayed.contains(#""type":"TaskOpened""#), "\(replayed)")
            #expect(!replayed.contains(#""type":"OnboardingStarted""#), "the event of the given id was sent again")
            try await again.shutdown()

            let bad = try await alice.get("/events/stream", headers: ["Last-Event-ID": "yesterday"])
            #expect(bad.status == 422)
            #expect(bad.code == "invalid_input")
        }
    }
}

extension EventStreamTests {
    /// The stream wakes on the writer's notification, not on its polling fallback (set to a minute here).
    @Test func aCommitReachesTheStreamThroughItsNotification() async throws {
        let fixture = try await HTTPFixture.make()
        try await fixture.withServer(livePollInterval: .seconds(60)) { api in
            let port = try #require(api.client.port)
            let (client, response) = try await Self.open(port, cookie: "handoff_session=\(api.tokens["sam"]!)")
            var events = response.body.makeAsyncIterator()
            _ = try await Self.read(&events, until: ": connected")
            // The server's listener subscribes on a thread of its own once the server runs: a write every second
            // until it has, however loaded the machine is.
            let started = ContinuousClock.now
            let writer = Task {
                for index in 0..<30 {
                    try await fixture.start("n\(index)")
                    try await Task.sleep(for: .seconds(1))
                }
            }
            let received = try await Self.read(&events, until: #""streamId":"n"#, seconds: 30)
            writer.cancel()
            #expect(received.contains(#""streamId":"n"#), "no event: \(received)")
            #expect(ContinuousClock.now - started < .seconds(40), "the event came with the minute's poll, not a notification")
            try await client.shutdown()
        }
    }
}

@Suite("Task instructions as safe HTML")
struct SafeMarkdownTests {
    @Test func tablesListsAndEmphasisRender() {
        let html = SafeMarkdown.html("Set these:\n\n| Variable | Value |\n| --- | --- |\n| `Mail_Send_Mode` | `Client` |\n\n- **one**\n- two\n")
        #expect(html.contains("<table>") && html.contains("<code>Mail_Send_Mode</code>"))
        #expect(html.contains("<li><strong>one</strong></li>"))
    }

    @Test(arguments: [
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ("Hi <img src=x onerror=alert(1)> there", "&lt;img src=x onerror=alert(1)&gt;"),
        ("<div onclick=\"x()\">block</div>", "&lt;div onclick=&quot;x()&quot;&gt;block&lt;/div&gt;"),
        ("![a](javascript:alert(1))", "![a](javascript:alert(1))"),
        ("```\"><script>x</script>\ncode\n```", "<pre><code>code</code></pre>"),
    ])
    func rawHTMLIsShownAsText(markdown: String, shown: String) {
        let html = SafeMarkdown.html(markdown)
        #expect(html.contains(shown), "\(html)")
        #expect(!html.contains("<script") && !html.contains("<img") && !html.contains("<div"), "\(html)")
    }

    @Test func linksKeepOnlyWebAndMailAddresses() {
        #expect(SafeMarkdown.html("[docs](https://example.com/a)").contains(#"<a href="https://example.com/a" rel="noopener noreferrer">docs</a>"#))
        #expect(SafeMarkdown.html("[mail](mailto:a@b.c)").contains(#"href="mailto:a@b.c""#))
        let script = SafeMarkdown.html("[click](javascript:alert(1))")
        #expect(!script.contains("href") && script.contains("click"), "\(script)")
        let quoted = SafeMarkdown.html(#"[x](https://e.com/" onmouseover="alert(1))"#)
        #expect(!quoted.contains(#"" onmouseover=""#), "\(quoted)")
    }
}
