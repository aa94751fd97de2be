;; The agent: the contract's `[capabilities.agent]` profile at work. It
;; sends one chat-completion request (a JSON POST to
;; `/v1/chat/completions`, OpenAI's shape) through `wasi:http`, with the API
;; key from its environment, and prints the JSON answer on stdout.
;;
;; Environment (granted by `env = [...]` in rusm.toml):
;;   OPENAI_API_KEY      sent as `authorization: Bearer <key>` (required)
;;   AGENT_API_HOST      the API's authority, e.g. `api.openai.com` (required)
;;   AGENT_API_INSECURE  when set, plain http instead of https (a local
;;                       stand-in server; the test uses it)
;;
;; A component written by hand in WAT, like every guest of the examples:
;; `wasi:cli/environment` and `wasi:cli/stdout` for the key and the output,
;; `wasi:http/types` and `wasi:http/outgoing-handler` for the request, and
;; `rusm:runtime/process.exit` for a failure's reason (`agent: <step>`).
;; Only the functions it calls are imported (0.2.0 names; the node links
;; the newest 0.2.x).
;;
;; Memory: 0..256 scratch for results, constants from 1024, the
;; authorization header built at 8192, the allocator from 65536 up.
(component
  (type $process-ty (instance
    (export "exit" (func (param "reason" string)))))
  (import "rusm:runtime/process@0.1.0" (instance $process (type $process-ty)))

  (type $env-ty (instance
    (export "get-environment" (func (result (list (tuple string string)))))))
  (import "wasi:cli/environment@0.2.0" (instance $env (type $env-ty)))

  (type $poll-ty (instance
    (export "pollable" (type $pollable (sub resource)))
    (export "[method]pollable.block" (func (param "self" (borrow $pollable))))))
  (import "wasi:io/poll@0.2.0" (instance $poll (type $poll-ty)))
  (alias export $poll "pollable" (type $pollable))

  (type $error-ty (instance
    (export "error" (type (sub resource)))))
  (import "wasi:io/error@0.2.0" (instance $io-error (type $error-ty)))
  (alias export $io-error "error" (type $io-error-t))

  (type $streams-ty (instance
    (alias outer 1 $io-error-t (type $err-o))
    (export "error" (type $err-e (eq $err-o)))
    (export "input-stream" (type $in (sub resource)))
    (export "output-stream" (type $out (sub resource)))
    (type $stream-error (variant (case "last-operation-failed" (own $err-e)) (case "closed")))
    (export "stream-error" (type $stream-error-e (eq $stream-error)))
    (export "[method]input-stream.blocking-read" (func
      (param "self" (borrow $in)) (param "len" u64)
      (result (result (list u8) (error $stream-error-e)))))
    (export "[method]output-stream.blocking-write-and-flush" (func
      (param "self" (borrow $out)) (param "contents" (list u8))
      (result (result (error $stream-error-e)))))))
  (import "wasi:io/streams@0.2.0" (instance $streams (type $streams-ty)))
  (alias export $streams "input-stream" (type $input-stream))
  (alias export $streams "output-stream" (type $output-stream))

  (type $stdout-ty (instance
    (alias outer 1 $output-stream (type $out-o))
    (export "output-stream" (type $out-e (eq $out-o)))
    (export "get-stdout" (func (result (own $out-e))))))
  (import "wasi:cli/stdout@0.2.0" (instance $stdout (type $stdout-ty)))

  (type $types-ty (instance
    (alias outer 1 $pollable (type $pollable-o))
    (export "pollable" (type $pollable-e (eq $pollable-o)))
    (alias outer 1 $input-stream (type $in-o))
    (export "input-stream" (type $in-e (eq $in-o)))
    (alias outer 1 $output-stream (type $out-o))
    (export "output-stream" (type $out-e (eq $out-o)))
    (export "outgoing-body" (type $obody (sub resource)))
    (export "incoming-body" (type $ibody (sub resource)))
    (type $method (variant (case "get") (case "head") (case "post") (case "put") (case "delete")
      (case "connect") (case "options") (case "trace") (case "patch") (case "other" string)))
    (export "method" (type $method-e (eq $method)))
    (type $header-error (variant (case "invalid-syntax") (case "forbidden") (case "immutable")))
    (export "header-error" (type $header-error-e (eq $header-error)))
    (export "fields" (type $fields (sub resource)))
    (export "outgoing-request" (type $request (sub resource)))
    (export "request-options" (type $options (sub resource)))
    (export "incoming-response" (type $response (sub resource)))
    (export "future-incoming-response" (type $future (sub resource)))
    (type $scheme (variant (case "HTTP") (case "HTTPS") (case "other" string)))
    (export "scheme" (type $scheme-e (eq $scheme)))
    (type $dns (record (field "rcode" (option string)) (field "info-code" (option u16))))
    (export "DNS-error-payload" (type $dns-e (eq $dns)))
    (type $tls (record (field "alert-id" (option u8)) (field "alert-message" (option string))))
    (export "TLS-alert-received-payload" (type $tls-e (eq $tls)))
    (type $fsize (record (field "field-name" (option string)) (field "field-size" (option u32))))
    (export "field-size-payload" (type $fsize-e (eq $fsize)))
    (type $error-code (variant
      (case "DNS-timeout")
      (case "DNS-error" $dns-e)
      (case "destination-not-found")
      (case "destination-unavailable")
      (case "destination-IP-prohibited")
      (case "destination-IP-unroutable")
      (case "connection-refused")
      (case "connection-terminated")
      (case "connection-timeout")
      (case "connection-read-timeout")
      (case "connection-write-timeout")
      (case "connection-limit-reached")
      (case "TLS-protocol-error")
      (case "TLS-certificate-error")
      (case "TLS-alert-received" $tls-e)
      (case "HTTP-request-denied")
      (case "HTTP-request-length-required")
      (case "HTTP-request-body-size" (option u64))
      (case "HTTP-request-method-invalid")
      (case "HTTP-request-URI-invalid")
      (case "HTTP-request-URI-too-long")
      (case "HTTP-request-header-section-size" (option u32))
      (case "HTTP-request-header-size" (option $fsize-e))
      (case "HTTP-request-trailer-section-size" (option u32))
      (case "HTTP-request-trailer-size" $fsize-e)
      (case "HTTP-response-incomplete")
      (case "HTTP-response-header-section-size" (option u32))
      (case "HTTP-response-header-size" $fsize-e)
      (case "HTTP-response-body-size" (option u64))
      (case "HTTP-response-trailer-section-size" (option u32))
      (case "HTTP-response-trailer-size" $fsize-e)
      (case "HTTP-response-transfer-coding" (option string))
      (case "HTTP-response-content-coding" (option string))
      (case "HTTP-response-timeout")
      (case "HTTP-upgrade-failed")
      (case "HTTP-protocol-error")
      (case "loop-detected")
      (case "configuration-error")
      (case "internal-error" (option string))))
    (export "error-code" (type $error-code-e (eq $error-code)))
    (export "[constructor]fields" (func (result (own $fields))))
    (export "[constructor]outgoing-request" (func (param "headers" (own $fields)) (result (own $request))))
    (export "[method]outgoing-request.set-scheme" (func
      (param "self" (borrow $request)) (param "scheme" (option $scheme-e)) (result (result))))
    (export "[method]outgoing-request.set-authority" (func
      (param "self" (borrow $request)) (param "authority" (option string)) (result (result))))
    (export "[method]outgoing-request.set-path-with-query" (func
      (param "self" (borrow $request)) (param "path-with-query" (option string)) (result (result))))
    (export "[method]fields.append" (func (param "self" (borrow $fields))
      (param "name" string) (param "value" (list u8)) (result (result (error $header-error-e)))))
    (export "[method]outgoing-request.set-method" (func
      (param "self" (borrow $request)) (param "method" $method-e) (result (result))))
    (export "[method]outgoing-request.body" (func
      (param "self" (borrow $request)) (result (result (own $obody)))))
    (export "[method]outgoing-body.write" (func
      (param "self" (borrow $obody)) (result (result (own $out-e)))))
    (export "[static]outgoing-body.finish" (func
      (param "this" (own $obody)) (param "trailers" (option (own $fields)))
      (result (result (error $error-code-e)))))
    (export "[method]incoming-response.consume" (func
      (param "self" (borrow $response)) (result (result (own $ibody)))))
    (export "[method]incoming-body.stream" (func
      (param "self" (borrow $ibody)) (result (result (own $in-e)))))
    (export "[method]incoming-response.status" (func (param "self" (borrow $response)) (result u16)))
    (export "[method]future-incoming-response.subscribe" (func
      (param "self" (borrow $future)) (result (own $pollable-e))))
    (export "[method]future-incoming-response.get" (func
      (param "self" (borrow $future))
      (result (option (result (result (own $response) (error $error-code-e)))))))))
  (import "wasi:http/types@0.2.0" (instance $types (type $types-ty)))
  (alias export $types "outgoing-request" (type $outgoing-request))
  (alias export $types "request-options" (type $request-options))
  (alias export $types "future-incoming-response" (type $future-incoming-response))
  (alias export $types "incoming-response" (type $incoming-response))
  (alias export $types "error-code" (type $error-code))

  (type $handler-ty (instance
    (alias outer 1 $outgoing-request (type $request-o))
    (export "outgoing-request" (type $request-e (eq $request-o)))
    (alias outer 1 $request-options (type $options-o))
    (export "request-options" (type $options-e (eq $options-o)))
    (alias outer 1 $future-incoming-response (type $future-o))
    (export "future-incoming-response" (type $future-e (eq $future-o)))
    (alias outer 1 $error-code (type $code-o))
    (export "error-code" (type $code-e (eq $code-o)))
    (export "handle" (func
      (param "request" (own $request-e)) (param "options" (option (own $options-e)))
      (result (result (own $future-e) (error $code-e)))))))
  (import "wasi:http/outgoing-handler@0.2.0" (instance $handler (type $handler-ty)))

  (core module $Libc
    (memory (export "memory") 2)
    (global $bump (mut i32) (i32.const 65536))
    (func (export "cabi_realloc") (param i32 i32) (param $align i32) (param $size i32) (result i32)
      (local $at i32)
      (local.set $at (i32.and
        (i32.add (global.get $bump) (i32.sub (local.get $align) (i32.const 1)))
        (i32.sub (i32.const 0) (local.get $align))))
      (global.set $bump (i32.add (local.get $at) (local.get $size)))
      (block $fits
        (loop $grow
          (br_if $fits (i32.le_u (global.get $bump) (i32.mul (memory.size) (i32.const 65536))))
          (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then unreachable))
          (br $grow)))
      (local.get $at)))
  (core instance $libc (instantiate $Libc))
  (alias core export $libc "memory" (core memory $mem))
  (alias core export $libc "cabi_realloc" (core func $realloc))

  (core func $exit (canon lower (func $process "exit") (memory $mem) string-encoding=utf8))
  (core func $get-env (canon lower (func $env "get-environment")
    (memory $mem) (realloc $realloc) string-encoding=utf8))
  (core func $block (canon lower (func $poll "[method]pollable.block")))
  (core func $drop-pollable (canon resource.drop $pollable))
  (core func $drop-output (canon resource.drop $output-stream))
  (core func $read (canon lower (func $streams "[method]input-stream.blocking-read")
    (memory $mem) (realloc $realloc)))
  (core func $write (canon lower (func $streams "[method]output-stream.blocking-write-and-flush")
    (memory $mem)))
  (core func $get-stdout (canon lower (func $stdout "get-stdout")))
  (core func $new-fields (canon lower (func $types "[constructor]fields")))
  (core func $append (canon lower (func $types "[method]fields.append")
    (memory $mem) string-encoding=utf8))
  (core func $new-request (canon lower (func $types "[constructor]outgoing-request")))
  (core func $set-method (canon lower (func $types "[method]outgoing-request.set-method")
    (memory $mem) string-encoding=utf8))
  (core func $set-scheme (canon lower (func $types "[method]outgoing-request.set-scheme")
    (memory $mem) string-encoding=utf8))
  (core func $set-authority (canon lower (func $types "[method]outgoing-request.set-authority")
    (memory $mem) string-encoding=utf8))
  (core func $set-path (canon lower (func $types "[method]outgoing-request.set-path-with-query")
    (memory $mem) string-encoding=utf8))
  (core func $body (canon lower (func $types "[method]outgoing-request.body") (memory $mem)))
  (core func $body-write (canon lower (func $types "[method]outgoing-body.write") (memory $mem)))
  (core func $body-finish (canon lower (func $types "[static]outgoing-body.finish")
    (memory $mem) (realloc $realloc) string-encoding=utf8))
  (core func $status (canon lower (func $types "[method]incoming-response.status")))
  (core func $consume (canon lower (func $types "[method]incoming-response.consume") (memory $mem)))
  (core func $body-stream (canon lower (func $types "[method]incoming-body.stream") (memory $mem)))
  (core func $subscribe (canon lower (func $types "[method]future-incoming-response.subscribe")))
  (core func $get (canon lower (func $types "[method]future-incoming-response.get")
    (memory $mem) (realloc $realloc) string-encoding=utf8))
  (core func $handle (canon lower (func $handler "handle")
    (memory $mem) (realloc $realloc) string-encoding=utf8))
  (core instance $host
    (export "exit" (func $exit))
    (export "get-env" (func $get-env))
    (export "block" (func $block))
    (export "drop-pollable" (func $drop-pollable))
    (export "drop-output" (func $drop-output))
    (export "read" (func $read))
    (export "write" (func $write))
    (export "get-stdout" (func $get-stdout))
    (export "new-fields" (func $new-fields))
    (export "append" (func $append))
    (export "new-request" (func $new-request))
    (export "set-method" (func $set-method))
    (export "set-scheme" (func $set-scheme))
    (export "set-authority" (func $set-authority))
    (export "set-path" (func $set-path))
    (export "body" (func $body))
    (export "body-write" (func $body-write))
    (export "body-finish" (func $body-finish))
    (export "status" (func $status))
    (export "consume" (func $consume))
    (export "body-stream" (func $body-stream))
    (export "subscribe" (func $subscribe))
    (export "get" (func $get))
    (export "handle" (func $handle)))

  (core module $Main
    (import "libc" "memory" (memory 2))
    (import "host" "exit" (func $exit (param i32 i32)))
    (import "host" "get-env" (func $get-env (param i32)))
    (import "host" "block" (func $block (param i32)))
    (import "host" "drop-pollable" (func $drop-pollable (param i32)))
    (import "host" "drop-output" (func $drop-output (param i32)))
    ;; (stream, len, result pointer)
    (import "host" "read" (func $read (param i32 i64 i32)))
    ;; (stream, ptr, len, result pointer)
    (import "host" "write" (func $write (param i32 i32 i32 i32)))
    (import "host" "get-stdout" (func $get-stdout (result i32)))
    (import "host" "new-fields" (func $new-fields (result i32)))
    ;; (fields, name ptr, len, value ptr, len, result pointer)
    (import "host" "append" (func $append (param i32 i32 i32 i32 i32 i32)))
    (import "host" "new-request" (func $new-request (param i32) (result i32)))
    ;; (self, method case, other's ptr, len) -> result case
    (import "host" "set-method" (func $set-method (param i32 i32 i32 i32) (result i32)))
    (import "host" "set-scheme" (func $set-scheme (param i32 i32 i32 i32 i32) (result i32)))
    (import "host" "set-authority" (func $set-authority (param i32 i32 i32 i32) (result i32)))
    (import "host" "set-path" (func $set-path (param i32 i32 i32 i32) (result i32)))
    ;; (self, result pointer)
    (import "host" "body" (func $body (param i32 i32)))
    (import "host" "body-write" (func $body-write (param i32 i32)))
    ;; (body, option case, trailers, result pointer)
    (import "host" "body-finish" (func $body-finish (param i32 i32 i32 i32)))
    (import "host" "status" (func $status (param i32) (result i32)))
    (import "host" "consume" (func $consume (param i32 i32)))
    (import "host" "body-stream" (func $body-stream (param i32 i32)))
    (import "host" "subscribe" (func $subscribe (param i32) (result i32)))
    (import "host" "get" (func $get (param i32 i32)))
    (import "host" "handle" (func $handle (param i32 i32 i32 i32)))

    (data (i32.const 1024) "OPENAI_API_KEY")
    (data (i32.const 1040) "AGENT_API_HOST")
    (data (i32.const 1056) "AGENT_API_INSECURE")
    (data (i32.const 1088) "authorization")
    (data (i32.const 1104) "content-type")
    (data (i32.const 1120) "application/json")
    (data (i32.const 1152) "/v1/chat/completions")
    (data (i32.const 1184) "Bearer ")
    (data (i32.const 1200) "content-length")
    (data (i32.const 1216) "97")
    ;; The failure reasons, one per 32 bytes: a length byte, then the text.
    (data (i32.const 2048) "\1eagent: OPENAI_API_KEY is unset")
    (data (i32.const 2080) "\1eagent: AGENT_API_HOST is unset")
    (data (i32.const 2112) "\16agent: bad request set")
    (data (i32.const 2144) "\18agent: request body fail")
    (data (i32.const 2176) "\16agent: request refused")
    (data (i32.const 2208) "\13agent: HTTP failure")
    (data (i32.const 2240) "\18agent: API status not OK")
    (data (i32.const 2272) "\17agent: bad API response")
    (data (i32.const 2304) "\15agent: stdout failure")
    (data (i32.const 4096) "{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Say hello to RUSM in five words.\"}]}")

    (global $found-len (mut i32) (i32.const 0))

    (func $fail (param $n i32)
      (local $at i32)
      (local.set $at (i32.add (i32.const 2048) (i32.shl (local.get $n) (i32.const 5))))
      (call $exit (i32.add (local.get $at) (i32.const 1)) (i32.load8_u (local.get $at)))
      unreachable)

    (func $bytes-eq (param $a i32) (param $b i32) (param $len i32) (result i32)
      (block $differ
        (loop $next
          (if (i32.eqz (local.get $len)) (then (return (i32.const 1))))
          (br_if $differ (i32.ne (i32.load8_u (local.get $a)) (i32.load8_u (local.get $b))))
          (local.set $a (i32.add (local.get $a) (i32.const 1)))
          (local.set $b (i32.add (local.get $b) (i32.const 1)))
          (local.set $len (i32.sub (local.get $len) (i32.const 1)))
          (br $next)))
      (i32.const 0))

    ;; The value of the environment variable `name`: its address, with its
    ;; length in $found-len; 0 when unset. The list is at (8, 12).
    (func $env (param $name i32) (param $len i32) (result i32)
      (local $at i32) (local $left i32)
      (local.set $at (i32.load (i32.const 8)))
      (local.set $left (i32.load (i32.const 12)))
      (block $none
        (loop $next
          (br_if $none (i32.eqz (local.get $left)))
          (if (i32.and
                (i32.eq (i32.load offset=4 (local.get $at)) (local.get $len))
                (call $bytes-eq (i32.load (local.get $at)) (local.get $name) (local.get $len)))
            (then
              (global.set $found-len (i32.load offset=12 (local.get $at)))
              (return (i32.load offset=8 (local.get $at)))))
          (local.set $at (i32.add (local.get $at) (i32.const 16)))
          (local.set $left (i32.sub (local.get $left) (i32.const 1)))
          (br $next)))
      (i32.const 0))

    (func (export "run")
      (local $key i32) (local $key-len i32) (local $host i32) (local $host-len i32)
      (local $https i32) (local $headers i32) (local $request i32) (local $body i32)
      (local $out i32) (local $future i32) (local $pollable i32) (local $response i32)
      (local $in i32) (local $stdout i32)
      (call $get-env (i32.const 8))
      (local.set $key (call $env (i32.const 1024) (i32.const 14)))
      (local.set $key-len (global.get $found-len))
      (if (i32.eqz (local.get $key)) (then (call $fail (i32.const 0))))
      (local.set $host (call $env (i32.const 1040) (i32.const 14)))
      (local.set $host-len (global.get $found-len))
      (if (i32.eqz (local.get $host)) (then (call $fail (i32.const 1))))
      (local.set $https (i32.eqz (call $env (i32.const 1056) (i32.const 18))))

      ;; authorization: Bearer <key>, built at 8192.
      (memory.copy (i32.const 8192) (i32.const 1184) (i32.const 7))
      (memory.copy (i32.const 8199) (local.get $key) (local.get $key-len))
      (local.set $headers (call $new-fields))
      (call $append (local.get $headers) (i32.const 1088) (i32.const 13)
        (i32.const 8192) (i32.add (local.get $key-len) (i32.const 7)) (i32.const 0))
      (if (i32.load8_u (i32.const 0)) (then (call $fail (i32.const 2))))
      (call $append (local.get $headers) (i32.const 1104) (i32.const 12)
        (i32.const 1120) (i32.const 16) (i32.const 0))
      (if (i32.load8_u (i32.const 0)) (then (call $fail (i32.const 2))))
      ;; The body's length, so that servers need not read chunks.
      (call $append (local.get $headers) (i32.const 1200) (i32.const 14)
        (i32.const 1216) (i32.const 2) (i32.const 0))
      (if (i32.load8_u (i32.const 0)) (then (call $fail (i32.const 2))))

      (local.set $request (call $new-request (local.get $headers)))
      ;; post is case 2 of `method`
      (if (call $set-method (local.get $request) (i32.const 2) (i32.const 0) (i32.const 0))
        (then (call $fail (i32.const 2))))
      (if (call $set-scheme (local.get $request) (i32.const 1) (local.get $https) (i32.const 0) (i32.const 0))
        (then (call $fail (i32.const 2))))
      (if (call $set-authority (local.get $request) (i32.const 1) (local.get $host) (local.get $host-len))
        (then (call $fail (i32.const 2))))
      (if (call $set-path (local.get $request) (i32.const 1) (i32.const 1152) (i32.const 20))
        (then (call $fail (i32.const 2))))

      ;; The JSON body: written and finished before the request is sent.
      (call $body (local.get $request) (i32.const 0))
      (if (i32.load8_u (i32.const 0)) (then (call $fail (i32.const 3))))
      (local.set $body (i32.load (i32.const 4)))
      (call $body-write (local.get $body) (i32.const 0))
      (if (i32.load8_u (i32.const 0)) (then (call $fail (i32.const 3))))
      (local.set $out (i32.load (i32.const 4)))
      (call $write (local.get $out) (i32.const 4096) (i32.const 97) (i32.const 0))
      (if (i32.load8_u (i32.const 0)) (then (call $fail (i32.const 3))))
      (call $drop-output (local.get $out))
      (call $body-finish (local.get $body) (i32.const 0) (i32.const 0) (i32.const 0))
      (if (i32.load8_u (i32.const 0)) (then (call $fail (i32.const 3))))

      (call $handle (local.get $request) (i32.const 0) (i32.const 0) (i32.const 0))
      (if (i32.load8_u (i32.const 0)) (then (call $fail (i32.const 4))))
      (local.set $future (i32.load (i32.const 8)))
      (loop $wait
        (local.set $pollable (call $subscribe (local.get $future)))
        (call $block (local.get $pollable))
        (call $drop-pollable (local.get $pollable))
        (call $get (local.get $future) (i32.const 0))
        (br_if $wait (i32.eqz (i32.load8_u (i32.const 0)))))
      (if (i32.load8_u (i32.const 8)) (then (call $fail (i32.const 5))))
      (if (i32.load8_u (i32.const 16))
        (then
          ;; 15 is HTTP-request-denied: the profile does not list the host.
          (if (i32.eq (i32.load8_u (i32.const 24)) (i32.const 15))
            (then (call $fail (i32.const 4))))
          (call $fail (i32.const 5))))
      (local.set $response (i32.load (i32.const 24)))
      (if (i32.ne (call $status (local.get $response)) (i32.const 200))
        (then (call $fail (i32.const 6))))

      ;; Copy the answer to stdout as it arrives.
      (call $consume (local.get $response) (i32.const 0))
      (if (i32.load8_u (i32.const 0)) (then (call $fail (i32.const 7))))
      (call $body-stream (i32.load (i32.const 4)) (i32.const 0))
      (if (i32.load8_u (i32.const 0)) (then (call $fail (i32.const 7))))
      (local.set $in (i32.load (i32.const 4)))
      (local.set $stdout (call $get-stdout))
      (block $done
        (loop $chunk
          (call $read (local.get $in) (i64.const 65536) (i32.const 0))
          ;; an error: `closed` (case 1) is the end of the body
          (if (i32.load8_u (i32.const 0))
            (then
              (br_if $done (i32.eq (i32.load8_u (i32.const 4)) (i32.const 1)))
              (call $fail (i32.const 7))))
          (call $write (local.get $stdout) (i32.load (i32.const 4)) (i32.load (i32.const 8)) (i32.const 32))
          (if (i32.load8_u (i32.const 32)) (then (call $fail (i32.const 8))))
          (br $chunk)))
      ;; A final newline.
      (i32.store8 (i32.const 64) (i32.const 10))
      (call $write (local.get $stdout) (i32.const 64) (i32.const 1) (i32.const 32)))
  )
  (core instance $main (instantiate $Main
    (with "libc" (instance $libc))
    (with "host" (instance $host))))
  (func $run (canon lift (core func $main "run")))
  (export "run" (func $run))
)
