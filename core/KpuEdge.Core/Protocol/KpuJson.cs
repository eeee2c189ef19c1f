using System.Text.Json;
using System.Text.Json.Serialization;

namespace KpuEdge.Core.Protocol;

/// <summary>The project's one JSON style: snake_case names (as Sirekap's public JSON and our files use).</summary>
public static class KpuJson
{
    /// <summary>For files people read: tallies, election definitions, registries, key files.</summary>
    public static readonly JsonSerializerOptions Files = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
    };

    /// <summary>For the public API: compact, nulls kept (Sirekap's JSON has explicit nulls, e.g. <c>"psu": null</c>).</summary>
    public static readonly JsonSerializerOptions Api = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
    };

    /// <summary>For messages such as receipts: compact, nulls left out.</summary>
    public static readonly JsonSerializerOptions Wire = new(JsonSerializerDefaults.Web)
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };
}
