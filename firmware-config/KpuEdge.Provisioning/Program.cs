using KpuEdge.Provisioning;

// kpu-provision: KPU's PKI (root and issuing CA), device provisioning by CSR, and signed configuration bundles.
return await ProvisioningCli.Create(TimeProvider.System).Parse(args).InvokeAsync();
