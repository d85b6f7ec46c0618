import Crypto
import Foundation
import HTTPTypes
import HandoffService
import Hummingbird
import NIOCore

/// Dashboard sessions: signing in with an API token sets it as an HttpOnly, SameSite=Strict cookie; every page
/// request checks it exactly as the API checks a bearer token (revoking or expiring the token ends the session).
/// Pages also take the API's `Authorization: Bearer` header, for scripts and monitoring.
///
/// Forms carry a CSRF token derived from the session's token (HMAC-SHA256, so a page of another site, which can
/// neither read the cookie nor the page, cannot make one); a post without it, or from another origin, is refused
/// before anything is read or written.
enum Session {
    static let cookieName = "handoff_session"
    static let csrfField = "_csrf"
    /// How long a browser keeps the session cookie (the token's own expiry ends it sooner).
    static let lifetime = 12 * 3600

    static func csrfToken(for sessionToken: String) -> String {
        let code = HMAC<SHA256>.authenticationCode(
            for: Data("handoff-dashboard-csrf".utf8), using: SymmetricKey(data: Data(sessionToken.utf8)))
        return code.map { String(format: "%02x", $0) }.joined()
    }

    /// The form's CSRF token for this request's session; empty for a request authenticated by a bearer header,
    /// which needs none (a header is never sent by a browser on its own).
    static func csrf(_ context: HandoffRequestContext) -> String {
        context.sessionToken.map(csrfToken(for:)) ?? ""
    }

    /// Refuses a form post that another site could have made: a session's post must carry the session's CSRF
    /// token, and a browser's `Origin`, when sent, must be this server's.
    static func checkForm(_ form: Form, _ request: Request, _ context: HandoffRequestContext) throws(DashboardRefusal) {
        if let origin = request.headers[.origin], let host = request.head.authority,
            origin != "null", URL(string: origin)?.hostWithPort != host
        {
            throw DashboardRefusal(.forbidden, "this form was sent from \(origin), not from Handoff's own pages")
        }
        guard let sessionToken = context.sessionToken else { return }
        let expected = Array(csrfToken(for: sessionToken).utf8)
        let given = Array((form.value(csrfField) ?? "").utf8)
        // Compared in constant time, so the comparison says nothing about how much of a guess was right.
        guard given.count == expected.count, zip(given, expected).reduce(0, { $0 | ($1.0 ^ $1.1) }) == 0 else {
            throw DashboardRefusal(
                .forbidden, "the form's security token is missing or stale; reload the page and send it again")
        }
    }

    /// The cookie that holds `token`, or (with nil) the one that clears it.
    static func cookie(_ token: String?, secure: Bool) -> Cookie {
        Cookie(
            name: cookieName, value: token ?? "", maxAge: token == nil ? 0 : lifetime, path: "/", secure: secure,
            httpOnly: true, sameSite: .strict)
    }

    /// Whether the browser reached Handoff over HTTPS (directly or through a proxy that says so), so the cookie
    /// may be marked `Secure`.
    static func isSecure(_ request: Request) -> Bool {
        request.uri.scheme == .https || request.headers[.xForwardedProto]?.lowercased() == "https"
    }
}

extension URL {
    /// `host[:port]`, as a `Host` header writes it.
    fileprivate var hostWithPort: String? {
        guard let host else { return nil }
        return port.map { "\(host):\($0)" } ?? host
    }
}

extension HTTPField.Name {
    static let xForwardedProto = HTTPField.Name("X-Forwarded-Proto")!
}

/// A dashboard request refused before the engine was asked: shown as a page with this status.
struct DashboardRefusal: Error, Sendable {
    var status: HTTPResponse.Status
    var message: String

    init(_ status: HTTPResponse.Status, _ message: String) {
        self.status = status
        self.message = message
    }
}

/// Checks the dashboard's session cookie, or a bearer header, and puts the caller in the context. A page request
/// without a valid one is sent to sign in (303, the page it wanted kept in `next`); `redirects: false` (the event
/// stream) answers 401 instead.
struct SessionAuthentication: RouterMiddleware {
    typealias Context = HandoffRequestContext
    let authenticator: Authenticator
    let redirects: Bool

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        var context = context
        if let header = request.headers[.authorization] {
            context.caller = try await authenticator.caller(authorization: header)
        } else if let token = request.cookies[Session.cookieName]?.value, !token.isEmpty {
            do {
                context.caller = try await authenticator.caller(token: token)
                context.sessionToken = token
            } catch {
                guard error.code == .unauthorized, redirects else { throw error }
                var response = Self.signIn(from: request)
                response.setCookie(Session.cookie(nil, secure: Session.isSecure(request)))
                return response
            }
        } else {
            guard redirects else {
                throw EngineError(.unauthorized, "sign in at /dashboard/sign-in, or send Authorization: Bearer <token>")
            }
            return Self.signIn(from: request)
        }
        context.logger[metadataKey: "caller"] = .string(context.caller?.name ?? "")
        return try await next(request, context)
    }

    /// 303 to the sign-in page, which returns to the page asked for (a GET's; a post's page is the task's or the
    /// inbox, so it returns there).
    static func signIn(from request: Request) -> Response {
        var target = request.method == .get ? request.uri.path : "/dashboard/inbox"
        if request.method == .get, let query = request.uri.query, !query.isEmpty {
            target += "?" + query
        }
        return Response.redirect(to: "/dashboard/sign-in?next=" + Form.encode(target), type: .normal)
    }
}

/// Bearer tokens to callers, for the API and the dashboard alike, through one cache.
struct Authenticator: Sendable {
    let engine: Engine
    let cache: CallerCache

    func caller(token: String) async throws(EngineError) -> Caller {
        if let known = cache.caller(for: token) { return known }
        let caller = try await engine.authenticate(token: token)
        cache.remember(caller, for: token)
        return caller
    }

    /// The caller of an `Authorization: Bearer <token>` header.
    func caller(authorization header: String) async throws(EngineError) -> Caller {
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw EngineError(.unauthorized, "the Authorization header must be 'Bearer <token>'")
        }
        return try await caller(token: String(parts[1]).trimmingCharacters(in: .whitespaces))
    }
}

/// An `application/x-www-form-urlencoded` body, as the dashboard's plain HTML forms send it.
struct Form: Sendable {
    var fields: [(name: String, value: String)]

    /// Reads at most `limit` bytes. Throws `payload_too_large`, and `invalid_input` for another content type or a
    /// body that does not decode.
    static func read(_ request: Request, limit: Int) async throws -> Form {
        let type = request.headers[.contentType]?.lowercased() ?? ""
        guard type.hasPrefix("application/x-www-form-urlencoded") else {
            throw EngineError(.invalidInput, "a dashboard form is sent as application/x-www-form-urlencoded, not '\(type)'")
        }
        var buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw EngineError(.payloadTooLarge, "the form is larger than \(limit) bytes")
        }
        let text = buffer.readString(length: buffer.readableBytes) ?? ""
        return try Form(decoding: text)
    }

    init(decoding text: String) throws(EngineError) {
        fields = []
        for pair in text.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = Self.decode(parts[0]), let value = Self.decode(parts.count > 1 ? parts[1] : "") else {
                throw EngineError(.invalidInput, "the form does not decode as UTF-8 text")
            }
            fields.append((name, value))
        }
    }

    private static func decode(_ part: Substring) -> String? {
        part.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }

    /// The last value of a field.
    func value(_ name: String) -> String? {
        fields.last { $0.name == name }?.value
    }

    func values(_ name: String) -> [String] {
        fields.filter { $0.name == name }.map(\.value)
    }

    private static let unreserved = CharacterSet(
        charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/")

    /// Text for a query string or a form value (and, but for its slashes, a path segment).
    static func encode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: unreserved) ?? ""
    }
}
