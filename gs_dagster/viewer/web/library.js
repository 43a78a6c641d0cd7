// The job library: one row per job of the job table (newest first), from /api/jobs.
const body = document.querySelector("#jobs tbody");
const status = document.getElementById("status");

function cell(row, content, className) {
  const td = row.insertCell();
  if (className) td.className = className;
  if (content instanceof Node) td.appendChild(content);
  else td.textContent = content ?? "";
  return td;
}

function link(href, text, className) {
  const a = document.createElement("a");
  a.href = href;
  a.textContent = text;
  if (className) a.className = className;
  return a;
}

function row(job) {
  const tr = body.insertRow();
  tr.dataset.uuid = job.uuid;
  let thumb = "";
  if (job.thumbnail_url) {
    thumb = document.createElement("img");
    thumb.className = "thumb";
    thumb.src = job.thumbnail_url;
    thumb.alt = job.name;
  }
  cell(tr, thumb);
  cell(tr, job.name, "name").title = job.uuid;
  cell(tr, job.status, `status status-${job.status}`).title = job.error || "";
  cell(tr, job.duration, "num duration");
  cell(tr, job.psnr == null ? "" : job.psnr.toFixed(2), "num psnr");
  cell(tr, job.gaussians == null ? "" : job.gaussians.toLocaleString("en"), "num gaussians");
  cell(tr, job.view_url ? link(job.view_url, "view", "view") : "");
  const downloads = cell(tr, "", "downloads");
  for (const file of job.downloads) {
    downloads.appendChild(link(file.url, file.name, "download"));
    downloads.appendChild(document.createTextNode(" "));
  }
}

try {
  const response = await fetch("/api/jobs");
  const jobs = await response.json();
  if (!response.ok) throw new Error(jobs.error || response.statusText);
  jobs.forEach(row);
  status.textContent = jobs.length ? `${jobs.length} job(s)` : "no jobs yet: gs-dagster submit MEDIA";
} catch (error) {
  status.textContent = `cannot read the jobs: ${error.message}`;
}
window.gsLibrary = { ready: true };
