using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using KpuEdge.Core.Protocol;
using KpuEdge.Crypto.Images;

namespace KpuEdge.Verify;

/// <summary>The log answered with an error status, or with something that is not its API's answer.</summary>
public sealed class LogApiException(HttpStatusCode? status, string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>Null when no HTTP answer came (connection refused, timeout) or the answer could not be read.</summary>
    public HttpStatusCode? Status { get; } = status;

    public bool NotFound => Status == HttpStatusCode.NotFound;

    /// <summary>The answer was refused for its size (it may have been a success status).</summary>
    public bool TooLarge { get; init; }
}

public sealed record InclusionAnswer(long LeafIndex, long TreeSize, string[] Proof, string? Checkpoint, string Entry);

public sealed record ConsistencyAnswer(long From, long To, string[] Proof);

public sealed record EntriesAnswer(long Start, string[] Entries);

/// <summary>`GET /api/v1/images/{tps}`: the form images of a TPS whose pages have arrived.</summary>
public sealed record ImagesAnswer(string? Tps, FormImageAnswer[]? Images);

/// <summary>One form image: <see cref="Pages"/> as its chunks declared, <see cref="Stored"/> the pages held (1-based).</summary>
public sealed record FormImageAnswer(string? Contest, string? ImageHash, int Pages, int PagesStored, bool Complete, StoredPageAnswer[]? Stored);

public sealed record StoredPageAnswer(int Page, long Size, [property: JsonPropertyName("sha256")] string? Sha256, string? Url);

/// <summary>
/// The log's public HTTP API (docs/verification.md). Only transport: nothing it returns is trusted until checked
/// against a checkpoint signed by the key the user brought.
/// </summary>
public sealed class LogClient(HttpClient http, Uri baseUri)
{
    /// <summary>Answers larger than this are refused: a hostile server must not exhaust the verifier's memory.</summary>
    public const int MaxAnswerBytes = 8 * 1024 * 1024;

    private static readonly JsonSerializerOptions Json = KpuJson.Wire;

    public Uri BaseUri { get; } = baseUri.AbsoluteUri.EndsWith('/') ? baseUri : new Uri(baseUri.AbsoluteUri + "/");

    public Task<string> CheckpointAsync(CancellationToken cancellationToken = default) => TextAsync("api/v1/log/checkpoint", cancellationToken);

    public Task<string> VerifierKeyAsync(CancellationToken cancellationToken = default) => TextAsync("api/v1/log/key", cancellationToken);

    public Task<InclusionAnswer> InclusionByHashAsync(string hashHex, long? size = null, CancellationToken cancellationToken = default) =>
        JsonAsync<InclusionAnswer>($"api/v1/log/proof/inclusion?hash={Uri.EscapeDataString(hashHex)}{(size is null ? "" : $"&size={size}")}", cancellationToken);

    public Task<InclusionAnswer> InclusionByTpsAsync(string tps, string contest, CancellationToken cancellationToken = default) =>
        JsonAsync<InclusionAnswer>($"api/v1/log/proof/inclusion?tps={Uri.EscapeDataString(tps)}&contest={Uri.EscapeDataString(contest)}", cancellationToken);

    public Task<ConsistencyAnswer> ConsistencyAsync(long from, long to, CancellationToken cancellationToken = default) =>
        JsonAsync<ConsistencyAnswer>($"api/v1/log/proof/consistency?from={from}&to={to}", cancellationToken);

    public Task<EntriesAnswer> EntriesAsync(long start, long end, CancellationToken cancellationToken = default) =>
        JsonAsync<EntriesAnswer>($"api/v1/log/entries?start={start}&end={end}", cancellationToken);

    public Task<string> DeviceCertificateAsync(string deviceId, CancellationToken cancellationToken = default) =>
        TextAsync($"api/v1/devices/{Uri.EscapeDataString(deviceId)}/certificate", cancellationToken);

    public Task<byte[]> CrlAsync(CancellationToken cancellationToken = default) => BytesAsync("api/v1/pki/crl", cancellationToken);

    public Task<ImagesAnswer> ImagesAsync(string tps, CancellationToken cancellationToken = default) =>
        JsonAsync<ImagesAnswer>($"api/v1/images/{Uri.EscapeDataString(tps)}", cancellationToken);

    /// <summary>One page's JPEG (page 1-based); an answer over <see cref="ImageChunk.MaxPageBytes"/> cannot be a link image and is refused.</summary>
    public Task<byte[]> ImagePageAsync(string tps, string contest, string imageHashHex, int page, CancellationToken cancellationToken = default) =>
        BytesAsync($"api/v1/images/{Uri.EscapeDataString(tps)}/{Uri.EscapeDataString(contest)}/{Uri.EscapeDataString(imageHashHex)}/{page}",
            cancellationToken, ImageChunk.MaxPageBytes);

    private async Task<string> TextAsync(string path, CancellationToken cancellationToken)
    {
        var bytes = await BytesAsync(path, cancellationToken);
        try
        {
            return new System.Text.UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (System.Text.DecoderFallbackException e)
        {
            throw new LogApiException(null, $"{path}: the answer is not UTF-8 text.", e);
        }
    }

    private async Task<T> JsonAsync<T>(string path, CancellationToken cancellationToken)
    {
        var bytes = await BytesAsync(path, cancellationToken);
        try
        {
            return JsonSerializer.Deserialize<T>(bytes, Json) ?? throw new JsonException("null");
        }
        catch (JsonException e)
        {
            throw new LogApiException(null, $"{path}: the answer is not the API's JSON ({e.Message}).", e);
        }
    }

    private async Task<byte[]> BytesAsync(string path, CancellationToken cancellationToken, int maxBytes = MaxAnswerBytes)
    {
        var uri = new Uri(BaseUri, path);
        HttpResponseMessage response;
        try
        {
            response = await http.GetAsync(uri, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            throw new LogApiException(null, $"{uri}: {e.Message}", e);
        }
        using (response)
        {
            if (response.Content.Headers.ContentLength > maxBytes)
                throw new LogApiException(response.StatusCode, $"{uri}: an answer of {response.Content.Headers.ContentLength} bytes; at most {maxBytes}.") { TooLarge = true };
            byte[] body;
            try
            {
                await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
                using var buffer = new MemoryStream();
                var chunk = new byte[81920];
                int read;
                while ((read = await stream.ReadAsync(chunk, cancellationToken)) > 0)
                {
                    if (buffer.Length + read > maxBytes)
                        throw new LogApiException(response.StatusCode, $"{uri}: the answer is larger than {maxBytes} bytes.") { TooLarge = true };
                    buffer.Write(chunk, 0, read);
                }
                body = buffer.ToArray();
            }
            catch (Exception e) when (e is HttpRequestException or IOException)
            {
                throw new LogApiException(null, $"{uri}: {e.Message}", e);
            }
            if (!response.IsSuccessStatusCode)
                throw new LogApiException(response.StatusCode, $"{uri}: HTTP {(int)response.StatusCode} {ErrorText(body)}".TrimEnd());
            return body;
        }
    }

    /// <summary>The API's {"error": "..."} message, or the start of the body.</summary>
    private static string ErrorText(byte[] body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            if (document.RootElement.ValueKind == JsonValueKind.Object && document.RootElement.TryGetProperty("error", out var error))
                return error.ToString();
        }
        catch (JsonException)
        {
        }
        string text = System.Text.Encoding.UTF8.GetString(body.AsSpan(0, Math.Min(body.Length, 200)));
        return text;
    }
}
