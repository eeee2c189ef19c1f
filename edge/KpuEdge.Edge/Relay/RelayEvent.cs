using KpuEdge.Core.Elections;
using KpuEdge.Core.Regions;

namespace KpuEdge.Edge.Relay;

/// <summary>What happened at a PPK station, for the operator's screen.</summary>
public enum RelayEventKind
{
    /// <summary>A TPS device of the kecamatan connected.</summary>
    Connected,
    /// <summary>A connection was refused: certificate, client id, or a TPS outside the kecamatan.</summary>
    ConnectionRefused,
    /// <summary>A publish or subscription outside the device's own topics was refused.</summary>
    Denied,
    /// <summary>A form was stored in the station's outbox, to be forwarded unchanged.</summary>
    FormTaken,
    /// <summary>A device sent a form the station already holds (no receipt yet, or it lost the receipt).</summary>
    FormResent,
    /// <summary>Not a form the cloud could accept (garbage, misaddressed): refused with a reason, nothing stored.</summary>
    FormRefused,
    /// <summary>The cloud's receipt went back to the device that asked.</summary>
    ReceiptReturned,
    /// <summary>A page image is complete at the station, checked against its hash.</summary>
    PageHeld,
    /// <summary>An image chunk was refused (unknown image, malformed, wrong bytes).</summary>
    ChunkRefused,
    /// <summary>All pages of a form image are held and queued for the cloud.</summary>
    ImageForwarded,
    /// <summary>Storing failed (disk): nothing was acknowledged, the device sends again.</summary>
    Failed,
}

/// <summary>One thing a PPK station did, with what it is about. <see cref="Detail"/> is in English; the codes are stable.</summary>
public sealed record RelayEvent(RelayEventKind Kind, string? DeviceId, string Detail)
{
    public TpsCode? Tps { get; init; }
    public ContestId? Contest { get; init; }
    public ulong? Sequence { get; init; }
    /// <summary>The reason code of a refusal, or the status of a returned receipt.</summary>
    public string? Reason { get; init; }
    /// <summary>0-based page, and the form's number of pages, for image events.</summary>
    public int Page { get; init; }
    public int Pages { get; init; }
    /// <summary>The network address a connection came from (connection events).</summary>
    public string? Source { get; init; }
}
