// Many small values packed into ONE script argument (each field: 4-byte big-endian length,
// then the bytes), unpacked in Lua with the `struct` library Redis ships. One argument
// instead of thousands keeps the client's per-argument encoding work out of the copy's
// hot path. LUA_FIELD_READER is the Lua side: `local v; v, pos = field(blob, pos)`.
export const LUA_FIELD_READER = `
local function field(blob, pos)
  local len
  len, pos = struct.unpack('>I4', blob, pos)
  return string.sub(blob, pos, pos + len - 1), pos + len
end
`;

export function packFields(fields: Array<Buffer | string>): Buffer {
  // Strings are written in place (no Buffer per field): this runs for every key copied.
  let total = 0;
  for (const f of fields) total += 4 + (typeof f === "string" ? Buffer.byteLength(f) : f.length);
  const out = Buffer.allocUnsafe(total);
  let offset = 0;
  for (const f of fields) {
    if (typeof f === "string") {
      const n = out.write(f, offset + 4);
      out.writeUInt32BE(n, offset);
      offset += 4 + n;
    } else {
      offset = out.writeUInt32BE(f.length, offset);
      offset += f.copy(out, offset);
    }
  }
  return out;
}
