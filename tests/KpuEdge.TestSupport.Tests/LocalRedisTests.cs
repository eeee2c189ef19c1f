using KpuEdge.TestSupport.LocalServices;
using StackExchange.Redis;

namespace KpuEdge.TestSupport.Tests;

/// <summary>Debian's Redis started, restarted and stopped by the test-support library, data in a temp folder.</summary>
public sealed class LocalRedisTests : IDisposable
{
    private readonly TempFolder _root = new();

    [Fact]
    public async Task A_value_set_before_a_restart_is_read_back_from_the_append_only_file_on_the_same_port()
    {
        await using var redis = await LocalRedis.StartAsync(_root.Path);
        int port = redis.Port;
        Assert.Equal($"127.0.0.1:{port}", redis.ConnectionString);
        await using (var connection = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString))
        {
            Assert.True(await connection.GetDatabase().StringSetAsync("kpu:silo:1", "127.0.0.1:11111"));
            Assert.Equal("127.0.0.1:11111", (string?)await connection.GetDatabase().StringGetAsync("kpu:silo:1"));
        }

        await redis.RestartAsync();

        Assert.Equal(port, redis.Port);
        Assert.True(Directory.EnumerateFiles(Path.Combine(_root.Path, "redis", "appendonlydir")).Any());
        await using (var connection = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString))
            Assert.Equal("127.0.0.1:11111", (string?)await connection.GetDatabase().StringGetAsync("kpu:silo:1"));
    }

    [Fact]
    public async Task Listens_on_loopback_only_and_leaves_nothing_running_when_disposed()
    {
        var redis = await LocalRedis.StartAsync(_root.Path);
        int pid = redis.ProcessId!.Value;
        await using (var connection = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString + ",allowAdmin=true"))
        {
            var server = connection.GetServer(redis.ConnectionString);
            Assert.Equal("127.0.0.1", (await server.ConfigGetAsync("bind")).Single().Value);
            Assert.Equal("yes", (await server.ConfigGetAsync("appendonly")).Single().Value);
            Assert.Equal("everysec", (await server.ConfigGetAsync("appendfsync")).Single().Value);
            Assert.Equal(Path.Combine(_root.Path, "redis"), (await server.ConfigGetAsync("dir")).Single().Value);
        }

        await redis.DisposeAsync();

        Assert.False(redis.IsRunning);
        Assert.False(Directory.Exists($"/proc/{pid}"));
        Assert.False(File.Exists(Path.Combine(redis.Root, "server.pid")));
        await Assert.ThrowsAsync<RedisConnectionException>(() => ConnectionMultiplexer.ConnectAsync(redis.ConnectionString + ",connectRetry=0"));
    }

    [Fact]
    public async Task A_start_on_the_same_data_kills_the_server_a_crashed_run_left_behind()
    {
        // The first owner never stops its server, as a test process killed mid-run would not.
        var abandoned = await LocalRedis.StartAsync(_root.Path);
        int stalePid = abandoned.ProcessId!.Value;

        await using var redis = await LocalRedis.StartAsync(_root.Path);

        Assert.False(Directory.Exists($"/proc/{stalePid}"));
        await abandoned.DisposeAsync();
        Assert.True(redis.IsRunning);
        await using var connection = await ConnectionMultiplexer.ConnectAsync(redis.ConnectionString);
        Assert.True(await connection.GetDatabase().StringSetAsync("k", "v"));
        Assert.Equal($"{redis.ProcessId}", File.ReadAllText(Path.Combine(redis.Root, "server.pid")).Trim());
    }

    [Fact]
    public async Task Without_redis_server_installed_names_the_Debian_package_and_kpu_setup()
    {
        var error = await Assert.ThrowsAsync<ServiceNotInstalledException>(() =>
            LocalRedis.StartAsync(_root.Path, new LocalRedisOptions { ServerPath = Path.Combine(_root.Path, "no-redis-server") }));

        Assert.Equal("redis-server", error.DebianPackage);
        Assert.Contains("'redis-server'", error.Message);
        Assert.Contains("./kpu setup", error.Message);
    }

    public void Dispose() => _root.Dispose();
}
