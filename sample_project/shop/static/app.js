// Shows which deployment (version and colour) answered, then lists the catalogue.
async function load() {
  const health = await (await fetch("/health")).json();
  document.getElementById("version").textContent = health.version;
  document.getElementById("colour").textContent = health.colour;
  document.documentElement.style.setProperty("--colour", health.colour);
  const data = await (await fetch("/api/products")).json();
  const list = document.getElementById("products");
  for (const product of data.products) {
    const item = document.createElement("li");
    item.textContent = product.name;
    const price = document.createElement("span");
    price.textContent = product.price;
    item.appendChild(price);
    if (!product.in_stock) item.className = "out";
    list.appendChild(item);
  }
}
load();
