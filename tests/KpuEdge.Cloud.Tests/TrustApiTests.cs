using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using KpuEdge.Cloud.Api;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace KpuEdge.Cloud.Tests;

/// <summary>
/// The trust API's guards on the real Kestrel server of the cloud: request bodies cut off at their limit while they are
/// read (never buffered whole first), one revocation list received at a time, and the security events for NSOC
/// operators only.
/// </summary>
public sealed class TrustApiTests(CloudFixture fixture) : IClassFixture<CloudFixture>
{
    private const long MiB = 1024 * 1024;

    /// <summary>A client that sends a body only once the server says continue (or never, when it answers first).</summary>
    private HttpClient ClientExpectingContinue() => new(new SocketsHttpHandler { Expect100ContinueTimeout = TimeSpan.FromMinutes(5) })
    {
        BaseAddress = fixture.Http.BaseAddress,
    };

    private static HttpRequestMessage PutWithContinue(string path, byte[] body)
    {
        var request = new HttpRequestMessage(HttpMethod.Put, path) { Content = new ByteArrayContent(body) };
        request.Headers.ExpectContinue = true;
        return request;
    }

    [Fact]
    public async Task Cuts_off_a_chunked_revocation_list_at_its_limit_while_reading_it_and_keeps_serving()
    {
        // 64 MiB made as they are pulled, with no Content-Length: only reading can find it too large.
        var body = new GeneratedBody(64 * MiB);

        var (status, answer) = await PutChunkedAsync("/api/v1/pki/crl", body);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, status);
        using (var doc = JsonDocument.Parse(answer))
            Assert.Contains($"{TrustApi.MaxCrlBytes} bytes", doc.RootElement.GetProperty("error").GetString());
        // Refused while reading: the client was stopped long before the end of its stream. What it pulled past the
        // limit is what socket and pipe buffers hold, a few MiB.
        Assert.InRange(body.Pulled, TrustApi.MaxCrlBytes, 32 * MiB);
        using var serving = await fixture.Http.GetAsync("api/v1/status");
        Assert.Equal(HttpStatusCode.OK, serving.StatusCode);
    }

    [Fact]
    public async Task Refuses_a_revocation_list_declared_over_its_limit_before_reading_it_but_takes_one_over_the_global_limit()
    {
        // Expect: 100-continue, as curl sends for a large body: the refusal comes before the body is sent at all.
        using var http = ClientExpectingContinue();
        using (var tooLarge = await http.SendAsync(PutWithContinue("api/v1/pki/crl", new byte[TrustApi.MaxCrlBytes + 1])))
            await AssertErrorAsync(HttpStatusCode.RequestEntityTooLarge, tooLarge);
        // 1 MiB is over the global 64 KiB but within the CRL endpoint's own limit: read, and refused only as not a CRL.
        using (var notACrl = await fixture.Http.PutAsync("api/v1/pki/crl", new ByteArrayContent(new byte[MiB])))
            await AssertErrorAsync(HttpStatusCode.UnprocessableEntity, notACrl);
    }

    [Fact]
    public async Task Refuses_a_body_over_the_global_limit_on_another_endpoint()
    {
        var limit = fixture.Cloud.Options.MaxRequestBodyBytes;
        using var request = PutWithContinue("api/v1/status", new byte[limit + 1]);
        request.Method = HttpMethod.Post;
        using var http = ClientExpectingContinue();
        using var response = await http.SendAsync(request);
        await AssertErrorAsync(HttpStatusCode.RequestEntityTooLarge, response);
        using var status = await fixture.Http.GetAsync("api/v1/status");
        Assert.Equal(HttpStatusCode.OK, status.StatusCode);
    }

    [Fact]
    public async Task Answers_a_revocation_list_sent_while_another_is_being_received_with_busy_and_Retry_After()
    {
        // The first upload asks for 100-continue: the server says continue only when the endpoint, holding the one
        // upload slot, starts reading the body, and only then does the client pull its first byte.
        using var http = ClientExpectingContinue();
        var held = new GeneratedBody(1024, holdAtFirstRead: true);
        using var first = new HttpRequestMessage(HttpMethod.Put, "api/v1/pki/crl") { Content = new StreamContent(held) };
        first.Headers.ExpectContinue = true;
        var firstAnswer = http.SendAsync(first);
        await held.FirstRead.WaitAsync(TimeSpan.FromMinutes(1));

        using (var busy = await fixture.Http.PutAsync("api/v1/pki/crl", new ByteArrayContent([1, 2, 3])))
        {
            await AssertErrorAsync(HttpStatusCode.ServiceUnavailable, busy);
            Assert.Equal(TimeSpan.FromSeconds(CrlUploadSlots.RetryAfterSeconds), busy.Headers.RetryAfter?.Delta);
        }

        held.Release();
        using (var answer = await firstAnswer)
            await AssertErrorAsync(HttpStatusCode.UnprocessableEntity, answer); // read whole, and not a CRL
        // The slot is free again.
        using (var next = await fixture.Http.PutAsync("api/v1/pki/crl", new ByteArrayContent([1, 2, 3])))
            await AssertErrorAsync(HttpStatusCode.UnprocessableEntity, next);
    }

    [Fact]
    public void An_upload_slot_is_taken_one_at_a_time_and_its_deadline_passes_on_the_clock()
    {
        var clock = new FakeTimeProvider();
        var slots = new CrlUploadSlots(Options.Create(new CloudOptions { CrlUploadTimeout = TimeSpan.FromSeconds(30) }), clock);
        using (var slot = slots.TryTake())
        {
            Assert.NotNull(slot);
            Assert.Null(slots.TryTake());
            clock.Advance(TimeSpan.FromSeconds(29));
            Assert.False(slot.Deadline.IsCancellationRequested);
            clock.Advance(TimeSpan.FromSeconds(1));
            Assert.True(slot.Deadline.IsCancellationRequested);
        }
        using var again = slots.TryTake();
        Assert.NotNull(again);
    }

    [Fact]
    public async Task Shows_security_events_only_to_an_operator_with_the_token()
    {
        using (var anonymous = await fixture.Http.GetAsync("api/v1/security/events"))
        {
            await AssertErrorAsync(HttpStatusCode.Unauthorized, anonymous);
            Assert.Equal("Bearer", Assert.Single(anonymous.Headers.WwwAuthenticate).Scheme);
        }
        using (var wrong = await EventsAsync(new string('A', 43)))
        {
            await AssertErrorAsync(HttpStatusCode.Unauthorized, wrong);
            Assert.Contains("invalid_token", Assert.Single(wrong.Headers.WwwAuthenticate).Parameter);
        }
        using (var basic = new HttpRequestMessage(HttpMethod.Get, "api/v1/security/events"))
        {
            basic.Headers.Authorization = new AuthenticationHeaderValue("Basic", fixture.Cloud.OperatorToken);
            using var answer = await fixture.Http.SendAsync(basic);
            await AssertErrorAsync(HttpStatusCode.Unauthorized, answer);
        }

        using var operatorAnswer = await EventsAsync(fixture.Cloud.OperatorToken);
        Assert.Equal(HttpStatusCode.OK, operatorAnswer.StatusCode);
        using var doc = JsonDocument.Parse(await operatorAnswer.Content.ReadAsStringAsync());
        Assert.Equal(JsonValueKind.Array, doc.RootElement.GetProperty("events").ValueKind);
    }

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void Makes_a_random_operator_token_readable_by_its_owner_only()
    {
        string path = fixture.Cloud.Options.OperatorTokenFile;
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        var token = fixture.Cloud.OperatorToken;
        Assert.Equal(43, token.Length); // 256 bits, base64url without padding
        Assert.Equal(32, System.Buffers.Text.Base64Url.DecodeFromChars(token).Length);
    }

    /// <summary>
    /// PUTs a chunked body over a plain socket, reading the answer while still sending. HttpClient cannot be used here:
    /// over HTTP/1.1 it reports the broken pipe of a server that answered early and closed, not the answer.
    /// </summary>
    private async Task<(HttpStatusCode Status, string Body)> PutChunkedAsync(string path, Stream body)
    {
        var server = fixture.Http.BaseAddress!;
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(server.Host, server.Port);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(
            $"PUT {path} HTTP/1.1\r\nHost: {server.Authority}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"));
        using var answered = new CancellationTokenSource();
        var sending = Task.Run(async () =>
        {
            var buffer = new byte[64 * 1024];
            try
            {
                int n;
                while ((n = await body.ReadAsync(buffer, answered.Token)) > 0)
                {
                    await stream.WriteAsync(Encoding.ASCII.GetBytes($"{n:x}\r\n"), answered.Token);
                    await stream.WriteAsync(buffer.AsMemory(0, n), answered.Token);
                    await stream.WriteAsync("\r\n"u8.ToArray(), answered.Token);
                }
                await stream.WriteAsync("0\r\n\r\n"u8.ToArray(), answered.Token);
            }
            catch (Exception e) when (e is IOException or OperationCanceledException) { } // the server answered and closed
        });
        var received = new MemoryStream();
        try { await stream.CopyToAsync(received); } // until the server closes the connection
        catch (IOException) { } // a reset after the answer: what was received before it is kept
        answered.Cancel();
        await sending;

        string text = Encoding.UTF8.GetString(received.ToArray());
        int headersEnd = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        Assert.True(headersEnd > 0, $"No complete answer: '{text}'");
        string head = text[..headersEnd], rest = text[(headersEnd + 4)..];
        var status = (HttpStatusCode)int.Parse(head.Split(' ')[1], CultureInfo.InvariantCulture);
        if (!head.Contains("Transfer-Encoding: chunked", StringComparison.OrdinalIgnoreCase)) return (status, rest);
        var content = new StringBuilder();
        for (int at = 0; ;)
        {
            int lineEnd = rest.IndexOf("\r\n", at, StringComparison.Ordinal);
            int size = int.Parse(rest[at..lineEnd], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            if (size == 0) return (status, content.ToString());
            content.Append(rest, lineEnd + 2, size);
            at = lineEnd + 2 + size + 2;
        }
    }

    private Task<HttpResponseMessage> EventsAsync(string token)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "api/v1/security/events");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return fixture.Http.SendAsync(request);
    }

    private static async Task AssertErrorAsync(HttpStatusCode expected, HttpResponseMessage response)
    {
        Assert.Equal(expected, response.StatusCode);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.False(string.IsNullOrEmpty(doc.RootElement.GetProperty("error").GetString()));
    }

    /// <summary>
    /// A request body of <c>length</c> bytes made as they are read, counting what the client pulled; optionally holding
    /// its first read until released (after telling the test it has begun).
    /// </summary>
    private sealed class GeneratedBody(long length, bool holdAtFirstRead = false) : Stream
    {
        private readonly TaskCompletionSource _firstRead = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private long _pulled;

        public long Pulled => Interlocked.Read(ref _pulled);
        public Task FirstRead => _firstRead.Task;
        public void Release() => _release.TrySetResult();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            _firstRead.TrySetResult();
            if (holdAtFirstRead) await _release.Task.WaitAsync(cancellationToken);
            int count = (int)Math.Min(buffer.Length, length - Pulled);
            buffer.Span[..count].Fill(0x5a);
            Interlocked.Add(ref _pulled, count);
            return count;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer, offset, count, default).GetAwaiter().GetResult();
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => Pulled; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
