import HTTPTypes
import Hummingbird
import Synchronization

/// The methods each route answers, recorded as routes are registered, so a request with another method on a known
/// path gets 405 with `Allow` rather than 404.
final class MethodTable: Sendable {
    private let routes = Mutex<[(segments: [Substring], methods: Set<String>)]>([])

    func record(_ method: HTTPRequest.Method, _ path: String) {
        let segments = path.split(separator: "/")
        routes.withLock { routes in
            if let index = routes.firstIndex(where: { $0.segments == segments }) {
                routes[index].methods.insert(method.rawValue)
            } else {
                routes.append((segments, [method.rawValue]))
            }
        }
    }

    /// The methods allowed on `path` (sorted), or nil when no route has its shape.
    func allowed(on path: String) -> [String]? {
        let segments = path.split(separator: "/")
        let methods = routes.withLock { routes in
            routes.first { route in
                route.segments.count == segments.count
                    && zip(route.segments, segments).allSatisfy { $0.hasPrefix(":") || $0 == $1 }
            }?.methods
        }
        return methods.map { $0.sorted() }
    }
}

/// A router or group that records each route's method in a `MethodTable` as it registers it.
struct RecordingRoutes<Base: RouterMethods> where Base.Context == HandoffRequestContext {
    let base: Base
    let table: MethodTable

    typealias Handler = @Sendable (Request, HandoffRequestContext) async throws -> Response

    func get(_ path: String, use handler: @escaping Handler) {
        table.record(.get, path)
        base.get(RouterPath(path), use: handler)
    }

    func post(_ path: String, use handler: @escaping Handler) {
        table.record(.post, path)
        base.post(RouterPath(path), use: handler)
    }

    func delete(_ path: String, use handler: @escaping Handler) {
        table.record(.delete, path)
        base.delete(RouterPath(path), use: handler)
    }
}
