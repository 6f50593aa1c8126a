// Shows which deployment (version and colour) answered, lists the catalogue, and keeps a cart.
// The cart's id is made up here and kept for the tab: the server needs no sessions or cookies.
const cartId = sessionStorage.getItem("cart") || crypto.randomUUID();
sessionStorage.setItem("cart", cartId);

function showCart(cart) {
  document.getElementById("cart-count").textContent = cart.count;
}

async function addToCart(product, button) {
  button.disabled = true;
  const reply = await fetch(`/api/carts/${cartId}/items/${product.id}`, { method: "POST" });
  const body = await reply.json();
  if (reply.ok) showCart(body);
  document.getElementById("message").textContent = reply.ok
    ? `added ${product.name}`
    : body.error;
  button.disabled = false;
}

async function load() {
  const health = await (await fetch("/health")).json();
  document.getElementById("version").textContent = health.version;
  document.getElementById("colour").textContent = health.colour;
  document.documentElement.style.setProperty("--colour", health.colour);
  const data = await (await fetch("/api/products")).json();
  const list = document.getElementById("products");
  for (const product of data.products) {
    const item = document.createElement("li");
    item.className = "product";
    item.dataset.id = product.id;
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = product.name;
    const price = document.createElement("span");
    price.className = "price";
    price.textContent = product.price;
    const button = document.createElement("button");
    button.className = "add";
    button.textContent = "Add to cart";
    button.disabled = !product.in_stock;
    button.addEventListener("click", () => addToCart(product, button));
    item.append(name, price, button);
    if (!product.in_stock) item.classList.add("out");
    list.appendChild(item);
  }
  showCart(await (await fetch(`/api/carts/${cartId}`)).json());
  document.body.dataset.ready = "true";
}
load();
