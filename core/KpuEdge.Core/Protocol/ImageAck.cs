using System.Text.Json;
using System.Text.Json.Serialization;

namespace KpuEdge.Core.Protocol;

[JsonConverter(typeof(JsonStringEnumConverter<ImageAckStatus>))]
public enum ImageAckStatus
{
    /// <summary>The page's first <see cref="ImageAck.Received"/> bytes are durably held: send on from there.</summary>
    [JsonStringEnumMemberName("partial")] Partial,
    /// <summary>The page is complete, checked against its hash and stored.</summary>
    [JsonStringEnumMemberName("stored")] Stored,
    /// <summary>Not taken; <see cref="ImageAck.Reason"/> says why (the device keeps the image and tells the operator).</summary>
    [JsonStringEnumMemberName("rejected")] Rejected,
}

/// <summary>
/// The cloud's answer to an image chunk, on the sender's image topic (<see cref="Topics.ImageAck"/>, JSON): where the
/// page stands, so that after a drop the sender continues from the last byte the cloud holds.
/// </summary>
public sealed record ImageAck
{
    public required ImageAckStatus Status { get; init; }
    /// <summary>The form's image hash (hex), as in the signed submission.</summary>
    public required string ImageHash { get; init; }
    /// <summary>0-based page of the form.</summary>
    public int Page { get; init; }
    /// <summary>Bytes of the page durably held: the offset to continue from.</summary>
    public int Received { get; init; }
    public int Size { get; init; }
    /// <summary>Pages of this form stored so far, and how many it has.</summary>
    public int PagesStored { get; init; }
    public int Pages { get; init; }
    public string? Reason { get; init; }
    public string? Detail { get; init; }
    /// <summary>
    /// For <c>stored</c> and <c>rejected</c> from the cloud: its signed statement about the page (a signed note by the
    /// log key, see ImageStatement in KpuEdge.Crypto). A device gives a page up only when this verifies; a PPK station's
    /// own <c>stored</c> (held at the station) carries none until the cloud's comes back through it.
    /// </summary>
    public string? Statement { get; init; }
    public required DateTimeOffset Ts { get; init; }

    public byte[] ToUtf8() => JsonSerializer.SerializeToUtf8Bytes(this, KpuJson.Wire);

    public static ImageAck? TryParse(ReadOnlySpan<byte> utf8)
    {
        try
        {
            return JsonSerializer.Deserialize<ImageAck>(utf8, KpuJson.Wire);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
