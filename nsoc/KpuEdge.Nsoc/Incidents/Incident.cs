using System.Text.Json.Serialization;
using KpuEdge.Core.Security;

namespace KpuEdge.Nsoc.Incidents;

[JsonConverter(typeof(JsonStringEnumConverter<IncidentState>))]
public enum IncidentState
{
    [JsonStringEnumMemberName("open")] Open,
    [JsonStringEnumMemberName("acknowledged")] Acknowledged,
    [JsonStringEnumMemberName("resolved")] Resolved,
}

/// <summary>
/// A rule fired for a subject (a device, a region, a node, a source address): what the rules engine hands the incident
/// store. Alerts of one rule and subject are one incident while it is open.
/// </summary>
[GenerateSerializer, Immutable, Alias("kpu.nsoc.Alert")]
public sealed record Alert(
    [property: Id(0)] string Rule,
    [property: Id(1)] string Subject,
    [property: Id(2)] SecuritySeverity Severity,
    [property: Id(3)] string Title,
    [property: Id(4)] string Detail,
    [property: Id(5)] DateTimeOffset At)
{
    [Id(6)] public string? DeviceId { get; init; }
    /// <summary>The region it concerns (a TPS code for a device's), for the map and the drill-down.</summary>
    [Id(7)] public string? Region { get; init; }
    /// <summary>The security event it came from, when it came from one.</summary>
    [Id(8)] public long? EventId { get; init; }
}

/// <summary>An incident as operators see and handle it.</summary>
public sealed record Incident
{
    public required long Id { get; init; }
    public required string Rule { get; init; }
    public required string Subject { get; init; }
    public required SecuritySeverity Severity { get; init; }
    public required IncidentState State { get; init; }
    public required string Title { get; init; }
    public required string Detail { get; init; }
    public string? DeviceId { get; init; }
    public string? Region { get; init; }
    public required DateTimeOffset OpenedAt { get; init; }
    public required DateTimeOffset LastSeenAt { get; init; }
    /// <summary>Occurrences: the rule firing again after the dedup window counts one more.</summary>
    public required int Count { get; init; }
    public string? AcknowledgedBy { get; init; }
    public DateTimeOffset? AcknowledgedAt { get; init; }
    public string? ResolvedBy { get; init; }
    public DateTimeOffset? ResolvedAt { get; init; }
    /// <summary>Grows with every change of any incident: the wall asks for what changed after the one it has.</summary>
    public required long Version { get; init; }
    public IReadOnlyList<IncidentNote> Notes { get; init; } = [];
}

public sealed record IncidentNote(DateTimeOffset At, string Account, string Text);

/// <summary>One operator action (or login) in the audit trail.</summary>
public sealed record AuditEntry(long Id, DateTimeOffset At, string Account, string Action, long? IncidentId, string Detail, string? Source);

/// <summary>What an operator may do: <c>viewer</c> looks, <c>operator</c> also acknowledges, resolves, notes and makes accounts.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<NsocRole>))]
public enum NsocRole
{
    [JsonStringEnumMemberName("viewer")] Viewer,
    [JsonStringEnumMemberName("operator")] Operator,
}

/// <summary>An operator's action that the incident's state does not allow (resolving a resolved incident, …).</summary>
public sealed class IncidentActionException(string message) : Exception(message);
