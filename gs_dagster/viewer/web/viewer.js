// The 3D viewer of one job: Spark (three.js) draws the job's .spz/.ply, opening at a capture camera.
//
// cameras.json (written by the splat and spz stages) holds each capture camera's pinhole intrinsics and
// world-to-camera matrix in OpenCV axes (x right, y down, z forward), in the same axes as the delivered
// file, which Spark loads as stored. A three.js camera looks down -z with y up, hence diag(1, -1, -1).
// ?job=UUID (required), &camera=N (index, default 0), &format=.ply (default: the .spz when there is one),
// &width=W&height=H (a fixed canvas, for tests).
import * as THREE from "three";
import { OrbitControls } from "three/addons/controls/OrbitControls.js";
import { SparkRenderer, SplatMesh } from "@sparkjsdev/spark";

const params = new URLSearchParams(location.search);
const state = (window.gsViewer = { ready: false, error: null, frames: 0, camera: null });
const statusLine = document.getElementById("status");
const NEAR = 0.01, FAR = 1000, SETTLE_FRAMES = 30;

function fail(message) {
  state.error = message;
  statusLine.textContent = message;
}

async function getJson(url) {
  const response = await fetch(url);
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || `${url}: ${response.status}`);
  return data;
}

// Projection from pinhole intrinsics (pixel units, image y down) fitted to a width x height canvas.
function projection(c, width, height) {
  const s = height / c.height;
  const fx = c.fx * s, fy = c.fy * s;
  const cx = width / 2 + (c.cx - c.width / 2) * s, cy = height / 2 + (c.cy - c.height / 2) * s;
  return new THREE.Matrix4().set(
    (2 * fx) / width, 0, 1 - (2 * cx) / width, 0,
    0, (2 * fy) / height, (2 * cy) / height - 1, 0,
    0, 0, -(FAR + NEAR) / (FAR - NEAR), (-2 * FAR * NEAR) / (FAR - NEAR),
    0, 0, -1, 0,
  );
}

// The point nearest to every camera's optical axis (least squares): what the cameras look at.
function lookedAt(cameras) {
  const a = new THREE.Matrix3().set(0, 0, 0, 0, 0, 0, 0, 0, 0), b = new THREE.Vector3();
  for (const c of cameras) {
    const m = new THREE.Matrix4().fromArray(c.world_to_camera.flat()).transpose().invert();
    const p = new THREE.Vector3().setFromMatrixPosition(m);
    const d = new THREE.Vector3(m.elements[8], m.elements[9], m.elements[10]).normalize();
    const e = a.elements, proj = [1 - d.x * d.x, -d.x * d.y, -d.x * d.z, -d.y * d.x, 1 - d.y * d.y, -d.y * d.z, -d.z * d.x, -d.z * d.y, 1 - d.z * d.z];
    for (let i = 0; i < 9; i++) e[i] += proj[i];
    b.add(p.applyMatrix3(new THREE.Matrix3().fromArray(proj)));
  }
  if (Math.abs(a.determinant()) < 1e-9) return null;
  return b.applyMatrix3(a.clone().invert());
}

function placeCamera(camera, controls, c, center, width, height) {
  const toWorld = new THREE.Matrix4().fromArray(c.world_to_camera.flat()).transpose().invert();
  toWorld.multiply(new THREE.Matrix4().makeScale(1, -1, -1));
  toWorld.decompose(camera.position, camera.quaternion, camera.scale);
  camera.updateMatrixWorld(true);
  camera.projectionMatrix.copy(projection(c, width, height));
  camera.projectionMatrixInverse.copy(camera.projectionMatrix).invert();
  const forward = new THREE.Vector3(0, 0, -1).applyQuaternion(camera.quaternion);
  const distance = center ? Math.max(0.1, center.clone().sub(camera.position).dot(forward)) : 1;
  camera.up.set(0, 1, 0).applyQuaternion(camera.quaternion); // orbiting keeps the photo's roll
  controls.target.copy(camera.position).addScaledVector(forward, distance);
  state.camera = c.name;
}

async function main() {
  const uuid = params.get("job");
  if (!uuid) return fail("no job given: open this page from the library");
  const job = await getJson(`/api/jobs/${encodeURIComponent(uuid)}`);
  document.getElementById("title").textContent = `${job.name} (${job.status})`;
  document.title = `${job.name} · gs-dagster`;
  const splatUrl = params.has("format") ? job.splat_urls[params.get("format")] : job.splat_url;
  if (!splatUrl) return fail(`this job has no ${params.get("format") || ".spz or .ply"} yet`);
  const cameras = job.cameras_url ? (await getJson(job.cameras_url)).cameras : [];

  const fixed = params.has("width") && params.has("height");
  const size = () => (fixed ? [+params.get("width"), +params.get("height")] : [innerWidth, innerHeight]);
  const [width, height] = size();
  const renderer = new THREE.WebGLRenderer({ antialias: false, preserveDrawingBuffer: true });
  renderer.setPixelRatio(1);
  renderer.setSize(width, height);
  renderer.setClearColor(0x000000, 1);
  document.getElementById("stage").appendChild(renderer.domElement);

  const scene = new THREE.Scene();
  scene.add(new SparkRenderer({ renderer }));
  const camera = new THREE.PerspectiveCamera(60, width / height, NEAR, FAR);
  const controls = new OrbitControls(camera, renderer.domElement);
  const center = cameras.length ? lookedAt(cameras) : null;
  const select = document.getElementById("camera");
  cameras.forEach((c, i) => select.add(new Option(c.name, String(i))));
  const show = (index) => {
    if (cameras[index]) placeCamera(camera, controls, cameras[index], center, ...size());
    else camera.position.set(0, 0, 3);
    controls.update();
  };
  select.onchange = () => show(+select.value);
  select.value = String(Math.min(+(params.get("camera") || 0), Math.max(cameras.length - 1, 0)));
  show(+select.value);
  addEventListener("resize", () => {
    if (fixed) return;
    renderer.setSize(innerWidth, innerHeight);
    show(+select.value);
  });

  const splat = new SplatMesh({ url: splatUrl });
  scene.add(splat);
  try {
    await splat.initialized;
  } catch (error) {
    // Spark 2.2.0 throws a bare value on a file it cannot decode, e.g. an SPZ version 4.
    const reason = error?.message || "the renderer could not decode it";
    throw new Error(`${reason} (Spark reads SPZ v2/v3 and .ply: try &format=.ply, or spz_version 3)`);
  }
  state.loadedMs = performance.now(); // since navigation start: fetched and decoded (bench/viewer_speed.py)
  const loadedAt = state.frames;
  state.splats = splat.numSplats ?? null;
  statusLine.textContent = cameras.length ? "" : "no capture cameras for this job: a default view";
  renderer.setAnimationLoop(() => {
    renderer.render(scene, camera);
    state.frames += 1;
    if (state.firstFrameMs === undefined) state.firstFrameMs = performance.now(); // the splat's first frame
    if (!state.ready && state.frames - loadedAt >= SETTLE_FRAMES) state.ready = true;
  });
}

state.snapshot = () => document.querySelector("#stage canvas").toDataURL("image/png");
main().catch((error) => fail(`cannot show this job: ${error.message}`));
