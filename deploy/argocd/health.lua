-- Argo CD health for core.oam.dev/Application objects managed by wasmcloud-app-status-bridge.
-- Runs in Argo CD's restricted Lua VM: no string library, so only core syntax ('..', tables, comparisons).
local health = { status = "Progressing", message = "Waiting for the app-status-bridge to report a status" }
local status = obj.status
if status == nil then
  return health
end

-- A status written for an older spec says nothing about the current one.
local generation = obj.metadata and obj.metadata.generation
if generation ~= nil and (status.observedGeneration == nil or status.observedGeneration < generation) then
  health.message = "Waiting for the app-status-bridge to observe generation " .. generation
  return health
end

local by_phase = {
  Deployed = "Healthy",
  Reconciling = "Progressing",
  Waiting = "Progressing",
  Undeployed = "Suspended",
  Failed = "Degraded",
  Unhealthy = "Degraded",
}
if status.phase ~= nil then
  if by_phase[status.phase] == nil then
    return { status = "Unknown", message = "Unknown phase " .. status.phase }
  end
  health.status = by_phase[status.phase]
  health.message = "wadm reports " .. status.phase
end
if status.message ~= nil and status.message ~= "" then
  health.message = status.message
end
return health
